"""Settings, read once from ``AILEDGER_*`` environment variables.

Configuration is data passed in: code receives a :class:`Settings` object rather
than reading the environment itself, so tests build their own.

Example::

    >>> settings = Settings(home="/tmp/ailedger-demo")
    >>> settings.chain_dir.name
    'chain'
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Where ailedger keeps its data and which engines it talks to."""

    model_config = SettingsConfigDict(env_prefix="AILEDGER_", extra="ignore")

    home: Path = Field(
        default_factory=lambda: Path.home() / ".ailedger",
        description="Data directory (AILEDGER_HOME).",
    )
    chain_url: str | None = Field(
        default=None,
        description="EVM JSON-RPC endpoint (AILEDGER_CHAIN_URL); unset means the embedded chain.",
    )
    database_url: str | None = Field(
        default=None,
        description="Record store (AILEDGER_DATABASE_URL); unset means SQLite in the data dir.",
    )
    mqtt_url: str | None = Field(
        default=None,
        description="MQTT broker for IoT (AILEDGER_MQTT_URL); unset means 127.0.0.1:1883 if it "
        "answers, else an in-process transport.",
    )
    password: str | None = Field(
        default=None,
        repr=False,
        description="Keystore password (AILEDGER_PASSWORD); the CLI prompts when unset.",
    )
    keystore_scrypt_n: int = Field(
        default=2**18,
        description="scrypt cost for new keystore files; lower only in tests.",
    )
    api_token: str | None = Field(
        default=None,
        repr=False,
        description="Bearer token required for API writes (AILEDGER_API_TOKEN).",
    )
    max_body_bytes: int = Field(
        default=2 * 1024 * 1024,
        gt=0,
        description="Largest request body the API and model hosts accept, in bytes "
        "(AILEDGER_MAX_BODY_BYTES); larger ones get 413.",
    )
    max_json_depth: int = Field(
        default=64,
        gt=0,
        le=1000,
        description="Deepest nesting of arrays/objects a request body may have "
        "(AILEDGER_MAX_JSON_DEPTH); deeper ones get 400.",
    )

    @field_validator("home", mode="before")
    @classmethod
    def _expand_home(cls, value: object) -> object:
        return Path(value).expanduser() if isinstance(value, str | Path) else value

    @field_validator("keystore_scrypt_n")
    @classmethod
    def _power_of_two(cls, value: int) -> int:
        if value < 2 or value & (value - 1):
            raise ValueError(f"keystore_scrypt_n must be a power of two >= 2, got {value}")
        return value

    @property
    def chain_dir(self) -> Path:
        """Where the embedded chain keeps its state (``<home>/chain``)."""
        return self.home / "chain"

    @property
    def keystore_dir(self) -> Path:
        """The encrypted keystore, one v3 JSON file per key (``<home>/keystore``)."""
        return self.home / "keystore"

    @property
    def blobs_dir(self) -> Path:
        """The encrypted, content-addressed blob store (``<home>/blobs``)."""
        return self.home / "blobs"

    @property
    def deployments_file(self) -> Path:
        """The address book of deployed contracts per chain id (``<home>/deployments.json``)."""
        return self.home / "deployments.json"

    def ensure_home(self) -> Path:
        """Create the data directory (owner-only permissions) and return it."""
        self.home.mkdir(parents=True, exist_ok=True, mode=0o700)
        return self.home
