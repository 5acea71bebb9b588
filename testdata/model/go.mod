module goinspect.test/model

go 1.21
