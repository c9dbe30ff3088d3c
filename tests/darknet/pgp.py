"""The PGP public key the test darknet shows on main's /text-only.html."""

#: a real OpenPGP public key (ed25519, made with ``gpg --quick-gen-key`` for these
#: tests only) shown on /text-only.html, and its fingerprint as gpg prints it
PGP_PUBLIC_KEY = """-----BEGIN PGP PUBLIC KEY BLOCK-----

mDMEaxGhiBYJKwYBBAHaRw8BAQdA/jk7X/RCYHSWFKztRrihwnWuRzNuK6lyEAdB
ekUUeQe0G1Rlc3QgS2V5IDx0ZXN0QGV4YW1wbGUub3JnPoiQBBMWCAA4FiEEyfWR
0yAOozcx2w07CHKyvQNKOCkFAmsRoYgCGwMFCwkIBwIGFQoJCAsCBBYCAwECHgEC
F4AACgkQCHKyvQNKOClJ0gEAyGHCYX+JEcz+BQU52tsQwEfnlqIQu3dOTIMXwaf5
OaMA/1bqkxHjZ2MGBFLxjBpDpjYKOf+aAuKbp7Yg3fOPYz8O
=Slcc
-----END PGP PUBLIC KEY BLOCK-----"""
PGP_FINGERPRINT = "C9F591D3200EA33731DB0D3B0872B2BD034A3829"
