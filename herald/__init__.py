"""The hotfix command: assembles the daemon and worker sides."""
