SELECT * -- hello
FROM c -- there
WHERE c.ssn = '--not a comment'--tail