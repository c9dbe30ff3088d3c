"""Seen sets: URL-seen (memory, compact on disk) and content-seen."""
