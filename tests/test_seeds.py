from darkcrawl.seeds import parse_seed_lines, read_seed_file, split_inline

ONION = "lbtgmztgmztgmztgmztgmztgmztgmztgmztgmztgmztgmztgmztmn5ad.onion"


def test_seed_file_reports_bad_lines_and_keeps_the_rest(tmp_path):
    path = tmp_path / "seeds.txt"
    path.write_bytes(
        b"# comment\n"
        b"\n"
        b"http://example.com/\n"
        b"not a url\n"
        + ONION.encode() + b"\n"
        b"ftp://x.org/\n"
        b"mailto:a@b.org\n"
        b"http://expyuzz4wqqyqhjn.onion/\n"
        b"\xff\xfe broken bytes\n"
        b"  https://Example.ORG:443/path#frag  \n"
    )
    urls, errors = read_seed_file(path)
    assert urls == ["http://example.com/", f"http://{ONION}/", "https://example.org/path"]
    assert [(e.line, e.reason) for e in errors] == [
        (4, "no scheme"),
        (6, "unsupported scheme 'ftp'"),
        (7, "a mail link is recorded, never fetched"),
        (8, "v2 onion address (retired by Tor in 2021)"),
        (9, "not valid UTF-8"),
    ]
    assert str(errors[0]).startswith(f"{path}:4: no scheme")


def test_inline_seeds_split_on_commas_but_keep_freenet_keys():
    value = "http://a.org/,http://127.0.0.1:8888/USK@abc,def/site/1/, b.org"
    assert split_inline(value) == ["http://a.org/", "http://127.0.0.1:8888/USK@abc,def/site/1/", "b.org"]
    urls, errors = parse_seed_lines(split_inline(value), "urls")
    assert urls[-1] == "http://b.org/" and not errors
