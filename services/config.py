"""Typed settings, one class per adapter, read from `DATASYNC_*` environment variables.

Every default works on loopback with the embedded stack; services compose the classes they
need. Nothing else in the code reads the environment.
"""

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class _Base(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DATASYNC_", extra="ignore")


class KafkaSettings(_Base):
    kafka_bootstrap: str = Field(
        "127.0.0.1:19092", description="Kafka bootstrap servers, comma separated"
    )
    kafka_idempotence: bool = Field(
        True,
        description="Idempotent producers; must be false on the embedded broker, which lacks them",
    )
    kafka_partitions: int = Field(6, description="Partitions of each topic datasync creates")
    kafka_replication: int = Field(1, description="Replication factor of topics datasync creates")


class DatabaseSettings(_Base):
    database_url: str = Field(
        "postgresql://postgres@127.0.0.1:15432/datasync", description="PostgreSQL DSN"
    )
    database_pool_size: int = Field(5, description="Connections per service process")


class ApiSettings(_Base):
    api_host: str = Field("127.0.0.1", description="Address the status API listens on")
    api_port: int = Field(8080, description="Status / control API and dashboard port")
    admin_token: str | None = Field(None, description="Admin bearer token of the control API")


class IngestSettings(_Base):
    ingest_host: str = Field("127.0.0.1", description="Address the webhook ingest listens on")
    ingest_port: int = Field(8081, description="Webhook ingest port")
    ingest_public_url: str | None = Field(
        None,
        description="Base URL the apps post webhooks to (for HubSpot signature checks behind a "
        "proxy); defaults to the URL the request arrived at",
    )
    webhook_max_age_seconds: int = Field(300, description="Oldest HubSpot webhook accepted")


class SandboxSettings(_Base):
    sandbox_hubspot_port: int = Field(8090, description="HubSpot sandbox port")
    sandbox_dynamics_port: int = Field(8091, description="Dynamics 365 sandbox port")
    sandbox_hubspot_token: str = Field(
        "sandbox-hubspot-token", description="Private-app token the HubSpot sandbox accepts"
    )
    sandbox_hubspot_app_secret: str = Field(
        "sandbox-hubspot-app-secret", description="App secret the HubSpot sandbox signs with"
    )
    sandbox_dynamics_token: str = Field(
        "sandbox-dynamics-token", description="Bearer token the Dynamics sandbox accepts"
    )
    sandbox_hubspot_developer_key: str = Field(
        "sandbox-hubspot-developer-key",
        description="Developer API key (`hapikey`) the HubSpot sandbox's webhooks API accepts",
    )


class ConnectorSettings(_Base):
    """The apps' request budgets, which each process keeps to (and the apps' rate-limit
    headers trim when other processes spend the same account's budget)."""

    hubspot_requests_per_window: int = Field(
        100,
        description="Requests per window a HubSpot private app may send (100 per 10 s on Free "
        "and Starter, 190 on Professional and Enterprise, more with the API limit increase)",
    )
    hubspot_window_seconds: float = Field(10.0, description="HubSpot's rolling window")
    dynamics_requests_per_window: int = Field(
        6000,
        description="Requests per window per Dynamics 365 user (service protection: 6,000 per "
        "5 minutes)",
    )
    dynamics_window_seconds: float = Field(300.0, description="Dataverse's sliding window")


class ProcessorSettings(_Base):
    processor_batch_size: int = Field(500, description="Events taken per processing batch")
    processor_batch_wait: float = Field(0.05, description="Seconds to wait to fill a batch")
    processor_fetch_max_wait_ms: int = Field(
        1500,
        description="Longest a fetch from the broker waits for data (Faust's own choice; Kafka "
        "answers at once when there is some, a broker that holds every fetch this long delays "
        "each change by it)",
    )


class WriterSettings(_Base):
    writer_batch_wait: float = Field(0.05, description="Seconds to wait to fill a batch")
    writer_batch_bulk_wait: float = Field(
        0.5,
        description="Seconds a batch of bulk writes (an initial sync; from 20 writes, or a tenth "
        "of the batch) waits for the next command: they arrive in bursts, and a full batch costs "
        "the target fewer requests",
    )
    writer_batch_max_wait: float = Field(
        2.0,
        description="Longest the first command of a partial batch waits to be written (a paused "
        "batch also waits while the target's request budget has no free slot, up to this)",
    )
    writer_hubspot_batch: int = Field(
        500,
        description="Writes a HubSpot batch gathers before it is written: a multiple of the 100 "
        "inputs one HubSpot batch call takes",
    )
    writer_app_batch: int = Field(
        1000,
        description="Writes an app batch gathers before it is written (Dynamics 365: the 1,000 "
        "operations one $batch request takes)",
    )
    retry_base_seconds: float = Field(
        30.0, description="First wait before a failing record is retried; doubles up to an hour"
    )


class ReconcilerSettings(_Base):
    reconcile_interval_seconds: float = Field(
        60.0, description="How often each sync is polled for changes webhooks missed"
    )
    reconcile_first_poll_max_delay: float = Field(
        600.0,
        description="Longest a sync's first poll after its initial sync waits for the initial "
        "sync's writes to land (the poll reads them back once they have)",
    )


class DevstackSettings(_Base):
    data_dir: Path = Field(Path(".datasync"), description="Embedded database data and secrets")
    broker_port: int = Field(19092, description="Embedded broker port")
    db_port: int = Field(15432, description="Embedded PostgreSQL port")
    devstack_start_timeout: float = Field(
        90.0, description="Seconds each child of the embedded stack gets to become ready"
    )
    devstack_stop_timeout: float = Field(
        10.0, description="Seconds each child of the embedded stack gets to exit before SIGKILL"
    )


class StackSettings(
    KafkaSettings, DatabaseSettings, ApiSettings, IngestSettings, SandboxSettings, DevstackSettings
):
    """What `make run` and the end-to-end fixtures need to start the whole stack.

    `kafka_bootstrap` / `database_url` given explicitly (in the environment or as arguments)
    mean an existing Kafka / PostgreSQL: then no embedded broker / database is started.
    """
