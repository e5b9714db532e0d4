package main

import (
	"log"
	"strings"

	"github.com/rs/zerolog"
)

// httpErrorLog sends net/http's own messages (TLS handshake errors, accept
// errors) to the structured log.
func httpErrorLog(l zerolog.Logger) *log.Logger {
	return log.New(logWriter{l.With().Str("component", "http").Logger()}, "", 0)
}

type logWriter struct{ l zerolog.Logger }

func (w logWriter) Write(p []byte) (int, error) {
	w.l.Warn().Msg(strings.TrimSpace(string(p)))
	return len(p), nil
}
