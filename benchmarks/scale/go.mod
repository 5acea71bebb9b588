module goinspect.bench/scale

go 1.21
