"""Which manager serves which network, built once from the settings."""

from __future__ import annotations

import shutil
from typing import TYPE_CHECKING

from darkcrawl.networks.base import HttpProxyNetwork, LaunchSpec, NetworkManager
from darkcrawl.networks.tor import TorNetwork

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.settings import BaseSettings


def _i2p_command(args: str) -> str:
    # darc ran Java I2P's "i2prouter start"; Debian ships i2pd
    if shutil.which("i2prouter"):
        return f"i2prouter start {args}".strip()
    if shutil.which("i2pd"):
        return f"i2pd {args}".strip()
    return ""


def _launch(settings: BaseSettings, network: str, command: str) -> LaunchSpec:
    """darc's DARC_<NET>, <NET>_WAIT and <NET>_RETRY for one network's launch."""
    prefix = network.upper()
    return LaunchSpec(settings.getbool(f"DARC_{prefix}"), command, settings.getfloat(f"{prefix}_WAIT"),
                      settings.getint(f"{prefix}_RETRY"))


def _gateway(crawler: Crawler, network: str, script: str) -> NetworkManager:
    """ZeroNet or Freenet: a web gateway on <NET>_PORT, launched by <NET>_PATH/<script>."""
    settings = crawler.settings
    prefix = network.upper()
    command = f"{settings[f'{prefix}_PATH']}/{script} {settings[f'{prefix}_ARGS']}".strip()
    return NetworkManager(crawler, "127.0.0.1", settings.getint(f"{prefix}_PORT"),
                          _launch(settings, network, command), name=network)


def build_networks(crawler: Crawler) -> dict[str, NetworkManager]:
    settings = crawler.settings
    tor = TorNetwork.from_crawler(crawler)
    i2p = HttpProxyNetwork(
        crawler, "127.0.0.1", settings.getint("I2P_PORT"),
        _launch(settings, "i2p", settings.get("DARKCRAWL_I2P_CMD") or _i2p_command(settings["I2P_ARGS"])),
        name="i2p",
    )
    zeronet = _gateway(crawler, "zeronet", "ZeroNet.sh main")
    freenet = _gateway(crawler, "freenet", "run.sh start")
    networks: dict[str, NetworkManager] = {"tor": tor, "i2p": i2p, "zeronet": zeronet, "freenet": freenet}
    if settings.getbool("DARKCRAWL_CLEARNET_VIA_TOR"):
        networks["clearnet"] = networks["tor2web"] = tor
    return networks
