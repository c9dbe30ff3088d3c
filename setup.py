"""The egg scrapyd runs.  pip reads pyproject.toml; this file only shapes that egg.

``scrapyd-deploy`` builds the egg it uploads with ``python setup.py bdist_egg``, and
scrapyd runs each job with the settings module named by the egg's ``scrapy`` entry
point.  So the egg, and only the egg, also carries this checkout's profiles
(``settings/``, whose default scrapy.cfg names): ``settings`` is no name for a
library to install, so wheels and editable installs leave it out.
"""

from __future__ import annotations

import shutil
from configparser import ConfigParser
from pathlib import Path

from setuptools import setup
from setuptools.command.bdist_egg import bdist_egg

ROOT = Path(__file__).resolve().parent
#: The egg is built apart from ./build and ./darkcrawl.egg-info: a `pip install .`
#: after a deploy would otherwise pack the stale build/lib/settings into its wheel.
EGG_BUILD = "build/scrapyd-egg"


def _settings_module() -> str:
    cfg = ConfigParser()
    cfg.read(ROOT / "scrapy.cfg")
    return cfg.get("settings", "default")


class ScrapydEgg(bdist_egg):
    def finalize_options(self) -> None:
        dist = self.distribution
        module = _settings_module()
        package = module.partition(".")[0]
        packages = list(dist.packages or [])
        dist.packages = packages if package in packages else [*packages, package]
        dist.entry_points = {**(dist.entry_points or {}), "scrapy": [f"settings = {module}"]}
        shutil.rmtree(EGG_BUILD, ignore_errors=True)  # no stale module in the egg
        Path(EGG_BUILD).mkdir(parents=True)
        # egg_info's manifest leaves out whatever lies under the build base
        dist.get_command_obj("build").build_base = f"{EGG_BUILD}/build"
        dist.get_command_obj("egg_info").egg_base = EGG_BUILD
        super().finalize_options()

    def run(self) -> None:
        try:
            super().run()
        finally:
            shutil.rmtree(EGG_BUILD, ignore_errors=True)


setup(cmdclass={"bdist_egg": ScrapydEgg})
