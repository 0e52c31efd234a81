"""The web console: a static single-page application served at ``/`` (no build step).

``static/`` holds ``index.html``, the console's ES modules (``js/``), its styles and the
vendored Leaflet (``vendor/leaflet``, BSD-2, from the npm registry). Nothing is loaded from
elsewhere: the console works without an internet connection. The map shows cdw's own road
network and geofences; a tile server (the bureau's 天地图 or a local one) is used only when
``CDW_CONSOLE_TILE_URL`` names one.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

STATIC_DIR = Path(__file__).parent / "static"
INDEX_HTML = STATIC_DIR / "index.html"


class ConsoleSettings(BaseSettings):
    """What the console's map starts with (environment prefix ``CDW_CONSOLE_``)."""

    model_config = SettingsConfigDict(env_prefix="CDW_CONSOLE_", env_file=".env", extra="ignore")

    tile_url: str | None = Field(
        default=None,
        description="XYZ tile URL template (http(s)://host/{z}/{x}/{y}.png); none: no tiles, "
        "the map draws cdw's own road network on a plain background",
    )
    tile_attribution: str = Field(default="", max_length=300)
    tile_max_zoom: int = Field(default=18, ge=1, le=22)
    center_lon: float = Field(default=113.384, ge=-180, le=180)
    center_lat: float = Field(default=22.937, ge=-90, le=90)
    zoom: int = Field(default=12, ge=1, le=20)

    @field_validator("tile_url", mode="before")
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("tile_url")
    @classmethod
    def _http_template(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in {"http", "https"} or not parts.netloc:
            raise ValueError(
                "瓦片地址须为 http(s)://主机/{z}/{x}/{y} / the tile URL must be "
                "http(s)://host/{z}/{x}/{y}"
            )
        return value

    @property
    def tile_origin(self) -> str | None:
        """``scheme://host[:port]`` of the tile server (for the page's content policy)."""
        if self.tile_url is None:
            return None
        parts = urlsplit(self.tile_url)
        host = parts.netloc.replace("{s}", "*")
        return f"{parts.scheme}://{host}"


@lru_cache
def get_console_settings() -> ConsoleSettings:
    return ConsoleSettings()
