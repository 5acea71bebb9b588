module goinspect.test/fleet

go 1.21
