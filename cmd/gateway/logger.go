package main

import (
	"fmt"

	"go.uber.org/zap"
)

// loggerConfig is the configuration of the process's one logger in format
// json (production, for serve) or console (for people at a terminal).
func loggerConfig(format string) (zap.Config, error) {
	var cfg zap.Config
	switch format {
	case "json":
		cfg = zap.NewProductionConfig()
		cfg.Sampling = nil // every request line matters
	case "console":
		cfg = zap.NewDevelopmentConfig()
		cfg.DisableStacktrace = true
	default:
		return cfg, fmt.Errorf("--log-format: %q is neither json nor console", format)
	}
	cfg.DisableCaller = true
	return cfg, nil
}

// newLogger builds the one logger of the process.
func newLogger(format string) (*zap.Logger, error) {
	cfg, err := loggerConfig(format)
	if err != nil {
		return nil, err
	}
	return cfg.Build()
}

// newCommandLogger builds the logger of an operator's command: console
// lines on stderr, warnings and errors only unless verbose, so a progress
// bar or a table is not drowned in the mover's notes.
func newCommandLogger(verbose bool) (*zap.Logger, error) {
	cfg, err := loggerConfig("console")
	if err != nil {
		return nil, err
	}
	cfg.Level = zap.NewAtomicLevelAt(zap.WarnLevel)
	if verbose {
		cfg.Level = zap.NewAtomicLevelAt(zap.DebugLevel)
	}
	return cfg.Build()
}
