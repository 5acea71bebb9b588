module goinspect.demo/service

go 1.21
