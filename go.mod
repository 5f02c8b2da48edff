module github.com/seedmicro/micro

go 1.26

require (
	go.uber.org/goleak v1.3.0 // indirect
	google.golang.org/protobuf v1.36.12 // indirect
)
