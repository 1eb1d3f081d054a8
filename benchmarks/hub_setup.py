"""What the hub benchmarks share: keys, receivers, applications and sessions."""

from __future__ import annotations

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from logout_sso.models import Application, Organization, TrackedSession
from tests.receiver_farm import ReceiverFarm

IDP = "https://idp.example.com/"
DELAY = 0.05
RUNS = 7
THROUGHPUT_DELIVERIES = 10_000
THROUGHPUT_APPLICATIONS = 100


def pem(private_key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> str:
    return private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


KEYS = {
    "RS256": pem(rsa.generate_private_key(public_exponent=65537, key_size=2048)),
    "ES256": pem(ec.generate_private_key(ec.SECP256R1())),
}


def applications(organization: Organization, ports: list[int], prefix: str) -> list[Application]:
    apps = Application.objects.bulk_create(
        Application(
            name=f"{prefix}-{port}",
            client_id=f"{prefix}-{port}",
            backchannel_logout_uri=f"http://127.0.0.1:{port}/bcl",
        )
        for port in ports
    )
    for application in apps:
        application.organizations.add(organization)
    return apps


def signed_in_everywhere(organization: Organization, apps: list[Application], sub: str) -> None:
    TrackedSession.objects.bulk_create(
        TrackedSession(
            application=application,
            organization=organization,
            issuer=IDP,
            sub=sub,
            session_id=f"{sub}-{application.pk}",
        )
        for application in apps
    )


def sign_in_everyone(organization: Organization, apps: list[Application], users: int) -> None:
    """``users`` users (``user-000000``...) with a session in each application (bulk: this is
    the setup)."""
    TrackedSession.objects.bulk_create(
        (
            TrackedSession(
                application=application,
                organization=organization,
                issuer=IDP,
                sub=f"user-{number:06}",
                session_id=f"{number}-{application.pk}",
            )
            for number in range(users)
            for application in apps
        ),
        batch_size=5000,
    )


def counting_receivers(count: int, delay: float) -> ReceiverFarm:
    """``count`` loopback receivers answering after ``delay`` seconds, in a process of their own,
    counting the requests they answer (``close()`` returns how many)."""
    return ReceiverFarm(count, delay, keep_tokens=False)


def percentile_95(values: list[float]) -> float:
    return sorted(values)[max(0, round(0.95 * len(values)) - 1)]
