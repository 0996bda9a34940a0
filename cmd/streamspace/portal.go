package main

import (
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/streamspace/streamspace/portal"
	"github.com/streamspace/streamspace/portal/auth"
)

func portalCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "portal", Short: "Administer the portal's store"}
	cfg := portal.Config{StateDir: filepath.Join(repoRoot(), ".state")}
	cmd.PersistentFlags().StringVar(&cfg.StateDir, "state-dir", cfg.StateDir, "The portal's state folder (its SQLite database).")
	cmd.PersistentFlags().StringVar(&cfg.Database, "database", "", "postgres:// DSN, or an SQLite file (default: <state-dir>/portal.db).")
	reset := &cobra.Command{
		Use:   "reset-password USER",
		Short: "Give a local account a new password (printed once) and sign it out everywhere",
		Long:  "The way back in for an admin who lost the bootstrap password: streamspace portal reset-password admin",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			db, err := portal.OpenStore(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			defer db.Close()
			return auth.ResetPassword(cmd.Context(), db, args[0], cmd.OutOrStdout())
		},
	}
	cmd.AddCommand(reset)
	return cmd
}
