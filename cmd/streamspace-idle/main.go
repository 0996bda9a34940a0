// Command streamspace-idle runs beside the app in a session's pod and
// serves the X server's idle time (how long since a person last typed or
// moved the pointer) at GET /idle, for the session controller to read
// before it hibernates the session. See sessionpod/xidle.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/streamspace/streamspace/sessionpod/xidle"
)

func main() {
	listen := flag.String("listen", fmt.Sprintf(":%d", xidle.DefaultPort), "Address to serve GET /idle on.")
	display := flag.String("display", os.Getenv("DISPLAY"), "X display to read, e.g. :1 (default $DISPLAY; empty: the only X server listening in this pod's network namespace).")
	xauth := flag.String("xauthority", os.Getenv("XAUTHORITY"), "X authority file with the display's MIT-MAGIC-COOKIE-1 (default $XAUTHORITY; empty or missing: no auth).")
	flag.Parse()
	if *display != "" {
		if _, err := xidle.ParseDisplay(*display); err != nil {
			fmt.Fprintf(os.Stderr, "streamspace-idle: --display: %v\n", err)
			os.Exit(2)
		}
	}

	srv := &http.Server{
		Addr:              *listen,
		Handler:           &xidle.Reporter{Display: *display, Xauthority: *xauth},
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		MaxHeaderBytes:    8 << 10,
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	slog.Info("Serving the X idle time", "listen", *listen, "path", xidle.Path, "display", *display)
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		slog.Error("Idle reporter stopped", "err", err)
		os.Exit(1)
	}
}
