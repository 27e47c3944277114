"""The operator's command line (`kling-bot <command>`, bot/cli.py): one module per command."""
