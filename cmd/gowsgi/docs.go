package main

import (
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

// newDocsCommand is the hidden `gowsgi docs DIR`: man pages generated from
// the commands themselves (make docs writes docs/man).
func newDocsCommand() *cobra.Command {
	return &cobra.Command{
		Use:    "docs DIR",
		Short:  "Write the man pages of gowsgi into DIR",
		Hidden: true,
		Args:   cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := os.MkdirAll(args[0], 0o755); err != nil {
				return fmt.Errorf("docs: %w", err)
			}
			header := &doc.GenManHeader{Title: "GOWSGI", Section: "1", Source: "gowsgi", Manual: "gowsgi manual"}
			// The page date: SOURCE_DATE_EPOCH when set (make docs sets the
			// last commit's), so regenerating changes nothing.
			if epoch, err := strconv.ParseInt(os.Getenv("SOURCE_DATE_EPOCH"), 10, 64); err == nil {
				date := time.Unix(epoch, 0).UTC()
				header.Date = &date
			}
			root := cmd.Root()
			root.DisableAutoGenTag = true
			if err := doc.GenManTree(root, header, args[0]); err != nil {
				return fmt.Errorf("docs: %w", err)
			}
			return nil
		},
	}
}
