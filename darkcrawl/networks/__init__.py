"""The networks darkcrawl reaches through a local proxy or gateway, each made
ready on first use (connect to a running daemon, or launch one) and failing
closed with a reason when it cannot be."""
