// The failover drill's loop for the Go SDK (azcosmos, pinned in ../go.mod). Started by
// tests/sdk/lib/failover-drill.mjs, which owns the stack and moves the write region; the protocol
// is in that file's header. Two goroutines share one client: one creates documents, one reads the
// seed document "r0" (partition "p0"), each pausing COSMOSEAL_DRILL_INTERVAL_MS between operations
// until COSMOSEAL_DRILL_DURATION_MS has passed. Reads prefer COSMOSEAL_DRILL_PREFERRED. Every
// operation is one JSON line on stdout with epoch-millisecond start and end.
//
//	node tests/sdk/lib/failover-drill.mjs --cwd tests/sdk/go -- go run ./drill
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/data/azcosmos"
)

var out = json.NewEncoder(os.Stdout)
var mu sync.Mutex

func emit(v any) {
	mu.Lock()
	defer mu.Unlock()
	_ = out.Encode(v)
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil {
		return v
	}
	return def
}

func describe(err error) string {
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		if sub := re.RawResponse.Header.Get("x-ms-substatus"); sub != "" {
			return fmt.Sprintf("%d/%s", re.StatusCode, sub)
		}
		return strconv.Itoa(re.StatusCode)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "timeout"
	}
	s := err.Error()
	if len(s) > 40 {
		s = s[:40]
	}
	return s
}

func epochMs(t time.Time) float64 { return float64(t.UnixNano()) / 1e6 }

func main() {
	duration := time.Duration(envInt("COSMOSEAL_DRILL_DURATION_MS", 20000)) * time.Millisecond
	interval := time.Duration(envInt("COSMOSEAL_DRILL_INTERVAL_MS", 50)) * time.Millisecond
	opTimeout := time.Duration(envInt("COSMOSEAL_DRILL_OP_TIMEOUT_MS", 5000)) * time.Millisecond

	pem, err := os.ReadFile(os.Getenv("COSMOSEAL_DRILL_CA_FILE"))
	if err != nil {
		panic(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		panic("no certificate in COSMOSEAL_DRILL_CA_FILE")
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	cred, err := azcosmos.NewKeyCredential(os.Getenv("COSMOSEAL_DRILL_KEY"))
	if err != nil {
		panic(err)
	}
	client, err := azcosmos.NewClientWithKey(os.Getenv("COSMOSEAL_DRILL_ENDPOINT"), cred, &azcosmos.ClientOptions{
		ClientOptions:    azcore.ClientOptions{Transport: hc},
		PreferredRegions: []string{os.Getenv("COSMOSEAL_DRILL_PREFERRED")},
	})
	if err != nil {
		panic(err)
	}
	container, err := client.NewContainer(os.Getenv("COSMOSEAL_DRILL_DATABASE"), os.Getenv("COSMOSEAL_DRILL_CONTAINER"))
	if err != nil {
		panic(err)
	}
	if _, err := container.ReadItem(context.Background(), azcosmos.NewPartitionKeyString("p0"), "r0", nil); err != nil {
		panic(err)
	}
	emit(map[string]any{"ready": true})
	t0 := time.Now()

	loop := func(kind string, op func(ctx context.Context, i int, id string) error) {
		for i := 0; ; i++ {
			start := time.Now()
			id := fmt.Sprintf("%s%d", kind, i)
			ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
			err := op(ctx, i, id)
			cancel()
			rec := map[string]any{"kind": kind, "id": id, "start": epochMs(start), "end": epochMs(time.Now()), "ok": err == nil}
			if err != nil {
				rec["error"] = describe(err)
			}
			emit(rec)
			if time.Since(t0) >= duration {
				return
			}
			time.Sleep(interval)
		}
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		loop("w", func(ctx context.Context, i int, id string) error {
			pk := fmt.Sprintf("p%d", i%8)
			body, _ := json.Marshal(map[string]any{"id": id, "pk": pk, "ssn": fmt.Sprintf("SSN-%d", i)})
			_, err := container.CreateItem(ctx, azcosmos.NewPartitionKeyString(pk), body, nil)
			return err
		})
	}()
	go func() {
		defer wg.Done()
		loop("r", func(ctx context.Context, _ int, _ string) error {
			_, err := container.ReadItem(ctx, azcosmos.NewPartitionKeyString("p0"), "r0", nil)
			return err
		})
	}()
	wg.Wait()
}
