import pytest
from scrapy.utils.test import get_crawler

from darkcrawl.spiders.darkweb import DarkwebSpider


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    # building the crawler creates its JOBDIR (PATH_DATA/job, relative): never in the checkout
    monkeypatch.chdir(tmp_path)


def crawler_settings(**settings):
    crawler = get_crawler(DarkwebSpider, {"ADDONS": {"darkcrawl.addon.Addon": 0}, **settings})
    crawler._apply_settings()
    return crawler.settings


def test_consoles_are_off_and_components_wired():
    settings = crawler_settings()
    assert settings.getbool("TELNETCONSOLE_ENABLED") is False
    assert settings.getbool("REMOTE_CONTROL_ENABLED") is False
    middlewares = settings.getwithbase("DOWNLOADER_MIDDLEWARES")
    assert middlewares["scrapy.downloadermiddlewares.robotstxt.RobotsTxtMiddleware"] is None
    assert middlewares["darkcrawl.downloadermiddlewares.routing.NetworkRoutingMiddleware"] == 50
    assert "darkcrawl.pipelines.linkcsv.LinkCsvPipeline" in settings.getwithbase("ITEM_PIPELINES")


def test_profile_overrides_addon_defaults():
    settings = crawler_settings(DOWNLOAD_DELAY=0, TELNETCONSOLE_ENABLED=True)
    assert settings.getfloat("DOWNLOAD_DELAY") == 0
    assert settings.getbool("TELNETCONSOLE_ENABLED") is True


def test_environment_is_read_when_settings_load(monkeypatch):
    monkeypatch.setenv("TIME_CACHE", "inf")
    monkeypatch.setenv("DARC_FORCE", "1")
    settings = crawler_settings()
    assert settings.getfloat("TIME_CACHE") == float("inf")
    assert settings.getbool("ROBOTSTXT_OBEY") is False
