"""Site-specific hooks: URL builders and page parsers for sites crawled for data."""
