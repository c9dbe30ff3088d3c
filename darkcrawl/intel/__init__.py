"""Host intelligence: what a host's answers say about it (liveness, gates, clones), as pure functions."""
