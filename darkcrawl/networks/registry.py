"""Which manager serves which network, built once from the settings."""

from __future__ import annotations

import shutil
from typing import TYPE_CHECKING

from darkcrawl.networks.base import HttpProxyNetwork, LaunchSpec, NetworkManager
from darkcrawl.networks.tor import TorNetwork

if TYPE_CHECKING:
    from scrapy.crawler import Crawler


def _i2p_command(args: str) -> str:
    # darc ran Java I2P's "i2prouter start"; Debian ships i2pd
    if shutil.which("i2prouter"):
        return f"i2prouter start {args}".strip()
    if shutil.which("i2pd"):
        return f"i2pd {args}".strip()
    return ""


def build_networks(crawler: Crawler) -> dict[str, NetworkManager]:
    settings = crawler.settings
    tor = TorNetwork.from_crawler(crawler)
    i2p = HttpProxyNetwork(
        crawler, "127.0.0.1", settings.getint("I2P_PORT"),
        LaunchSpec(settings.getbool("DARC_I2P"), settings.get("DARKCRAWL_I2P_CMD") or _i2p_command(settings["I2P_ARGS"]),
                   settings.getfloat("I2P_WAIT"), settings.getint("I2P_RETRY")),
        name="i2p",
    )
    zeronet = NetworkManager(
        crawler, "127.0.0.1", settings.getint("ZERONET_PORT"),
        LaunchSpec(settings.getbool("DARC_ZERONET"),
                   f"{settings['ZERONET_PATH']}/ZeroNet.sh main {settings['ZERONET_ARGS']}".strip(),
                   settings.getfloat("ZERONET_WAIT"), settings.getint("ZERONET_RETRY")),
        name="zeronet",
    )
    freenet = NetworkManager(
        crawler, "127.0.0.1", settings.getint("FREENET_PORT"),
        LaunchSpec(settings.getbool("DARC_FREENET"),
                   f"{settings['FREENET_PATH']}/run.sh start {settings['FREENET_ARGS']}".strip(),
                   settings.getfloat("FREENET_WAIT"), settings.getint("FREENET_RETRY")),
        name="freenet",
    )
    networks: dict[str, NetworkManager] = {"tor": tor, "i2p": i2p, "zeronet": zeronet, "freenet": freenet}
    if settings.getbool("DARKCRAWL_CLEARNET_VIA_TOR"):
        networks["clearnet"] = networks["tor2web"] = tor
    return networks
