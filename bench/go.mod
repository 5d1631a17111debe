module github.com/asyncore-go/asyncore/bench

go 1.26.0

require (
	github.com/asyncore-go/asyncore v0.0.0
	github.com/panjf2000/gnet/v2 v2.5.7
	github.com/tidwall/evio v1.0.8
)

require (
	github.com/kavu/go_reuseport v1.5.0 // indirect
	github.com/valyala/bytebufferpool v1.0.0 // indirect
	go.uber.org/atomic v1.7.0 // indirect
	go.uber.org/multierr v1.6.0 // indirect
	go.uber.org/zap v1.21.0 // indirect
	golang.org/x/sync v0.7.0 // indirect
	golang.org/x/sys v0.49.0 // indirect
	gopkg.in/natefinch/lumberjack.v2 v2.2.1 // indirect
)

replace github.com/asyncore-go/asyncore => ../
