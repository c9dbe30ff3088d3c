import math

import pytest
from scrapy.settings import Settings

from darkcrawl import config
from darkcrawl.config import ConfigError, apply_environment, normalise


def settings_from_env(env: dict[str, str], **project: object) -> Settings:
    settings = Settings()
    for name, value in project.items():
        settings.set(name, value, priority="project")
    apply_environment(settings, env)
    normalise(settings)
    return settings


@pytest.mark.parametrize(
    ("env", "name", "expected"),
    [
        ({"TIME_CACHE": "120"}, "TIME_CACHE", 120.0),
        ({"TIME_CACHE": "inf"}, "TIME_CACHE", math.inf),
        ({"TIME_CACHE": "None"}, "TIME_CACHE", math.inf),  # darc's docs said None
        ({"DARC_REBOOT": "1"}, "DARC_REBOOT", True),
        ({"DARC_REBOOT": "0"}, "DARC_REBOOT", False),
        ({"DARC_FORCE": "1"}, "ROBOTSTXT_OBEY", False),
        ({"DARC_FORCE": "0"}, "ROBOTSTXT_OBEY", True),
        ({"DARC_DEBUG": "1"}, "LOG_LEVEL", "DEBUG"),
        ({"PATH_DATA": "/srv/darc"}, "PATH_DATA", "/srv/darc"),
        ({"LINK_WHITE_LIST": '[".*\\\\.onion"]'}, "LINK_WHITE_LIST", [".*\\.onion"]),
        ({"TOR_CFG": '{"SocksPort": "9150"}'}, "TOR_CFG", {"SocksPort": "9150"}),
        ({"TOR_PORT": "9150"}, "TOR_PORT", 9150),
        ({"TOR_STEM": "0"}, "DARC_TOR", False),  # darc 0.1 name
        ({"DARC_URL_PAT": '[["onion", "(?P<url>x)", 2]]'}, "DARC_URL_PAT", [["onion", "(?P<url>x)", 2]]),
        ({"LINK_FALLBACK": "1"}, "LINK_FALLBACK", "1"),
        ({}, "LINK_FALLBACK", ""),
        ({}, "TIME_CACHE", 60.0),
        ({}, "PATH_DATA", "data"),
    ],
)
def test_environment_maps_onto_settings(env, name, expected):
    assert settings_from_env(env)[name] == expected


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"TIME_CACHE": "soon"}, "TIME_CACHE='soon': expected a number of seconds or 'inf'"),
        ({"TIME_CACHE": "-5"}, "TIME_CACHE='-5': expected a non-negative number of seconds"),
        ({"DARC_REBOOT": "maybe"}, "DARC_REBOOT='maybe': expected 0 or 1"),
        ({"LINK_WHITE_LIST": "[.onion"}, "LINK_WHITE_LIST='[.onion': invalid JSON"),
        ({"LINK_BLACK_LIST": '["(unclosed"]'}, "LINK_BLACK_LIST='[\"(unclosed\"]': bad regular expression"),
        ({"MIME_WHITE_LIST": '{"a": 1}'}, "MIME_WHITE_LIST='{\"a\": 1}': expected a JSON list of strings"),
        ({"TOR_PORT": "70000"}, "TOR_PORT='70000': expected a TCP port"),
        ({"TOR_CFG": "[1]"}, "TOR_CFG='[1]': expected a JSON object"),
        ({"DARC_URL_PAT": '[["x", "no-group", 0]]'}, "the regex needs a named group 'url'"),
        ({"API_RETRY": "three"}, "API_RETRY='three': expected a whole number"),
        ({"DARKCRAWL_HOST_PAGE_LIMIT": "-5"}, "DARKCRAWL_HOST_PAGE_LIMIT='-5': expected a whole number (0 or more)"),
        ({"LINK_BLACK_LIST": r".*\.onion"}, "LINK_BLACK_LIST='.*\\\\.onion': expected a JSON list of strings, e.g. "),
    ],
)
def test_malformed_values_name_the_variable(env, message):
    with pytest.raises(ConfigError) as error:
        settings_from_env(env)
    assert message in str(error.value)


def test_values_from_settings_are_validated_too():
    settings = Settings()
    settings.set("TIME_CACHE", "abc", priority="cmdline")
    with pytest.raises(ConfigError, match="TIME_CACHE"):
        normalise(settings)


def test_environment_beats_profile_but_not_command_line():
    settings = Settings()
    settings.set("TIME_CACHE", 10, priority="project")
    apply_environment(settings, {"TIME_CACHE": "20"})
    normalise(settings)
    assert settings["TIME_CACHE"] == 20.0
    settings.set("TIME_CACHE", "30", priority="cmdline")
    apply_environment(settings, {"TIME_CACHE": "20"})
    normalise(settings)
    assert settings["TIME_CACHE"] == 30.0


def test_ignored_darc_variables_warn():
    warnings = apply_environment(Settings(), {"DARC_CPU": "16"})
    assert warnings and "DARC_CPU" in warnings[0]


@pytest.mark.parametrize(
    ("fallback", "white", "drops"),
    [("", [], False), ("", ["x"], True), ("0", ["x"], False), ("1", [], True)],
)
def test_fallback(fallback, white, drops):
    assert config.fallback_drops(fallback, white) is drops


def test_nothing_is_read_at_import():
    # in a process of its own: reloading the module here gave ConfigError a second
    # class identity, and later tests' pytest.raises(ConfigError) failed
    import os
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-c", "import darkcrawl.config, darkcrawl.addon"], capture_output=True,
                            text=True, env={**os.environ, "TIME_CACHE": "not a number"}, timeout=60)
    assert result.returncode == 0, result.stderr  # importing must neither read nor validate the environment
