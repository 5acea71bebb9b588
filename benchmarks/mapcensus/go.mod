module goinspect.bench/mapcensus

go 1.21
