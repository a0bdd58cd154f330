#pragma once

namespace cosmoseal::bench {

// `cosmoseal-bench report DIR [options]`: reads DIR/raw/*.json written by bench/compare and
// writes DIR/report.md, DIR/summary.json and the gnuplot inputs (DIR/plot.dat, DIR/plot.gp).
// Returns the process exit code.
int runReport(int argc, char** argv);

}  // namespace cosmoseal::bench
