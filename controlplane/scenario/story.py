"""Who Northbridge Partners are: legal entities, tax codes, clients, projects, contracts,
rate cards and consultants. Fixed data plus a seeded generator, so every run of the demo
tells the same story (only the dates move with today)."""

import datetime as dt
import random
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache

SEED = 2026
WEEKS = 14  # history simulated, in weeks back from the current one


@dataclass(frozen=True)
class LegalEntity:
    code: str
    name: str
    country: str  # ISO 3166 alpha-2, as the Client schema's billingCountry
    currency: str
    invoice_prefix: int  # invoice numbers are INV-<prefix><5 digits>: the ERP's numbering per subsidiary
    tax_codes: tuple  # valid tax codes for this entity (the first is the standard one)
    ledger: str  # system slug of the ledger it posts to


LEGAL_ENTITIES = {
    "UK01": LegalEntity("UK01", "Northbridge Partners Ltd", "GB", "GBP", 1, ("GB-S20", "GB-Z0", "GB-RC"), "netsuite"),
    "US01": LegalEntity("US01", "Northbridge Partners Inc.", "US", "USD", 2, ("US-TX", "US-NT"), "netsuite"),
    # DE01 still invoices from the legacy SAP ledger until the migration wave in Q3.
    "DE01": LegalEntity("DE01", "Northbridge Partners GmbH", "DE", "EUR", 3, ("DE-U19", "DE-RC"), "sap-fi-legacy"),
}
TAX_CODES = [code for le in LEGAL_ENTITIES.values() for code in le.tax_codes]
# The UK VAT code NetSuite retired in the tax-code change; Certinia kept sending it.
RETIRED_UK_TAX_CODE = "GB-VAT20"

# name, legal entity, segment, PO required, billing country when it differs from the entity's
CLIENTS = [
    ("Halden Freight Group", "UK01", "enterprise", True),
    ("Marlow & Cray Insurance", "UK01", "enterprise", True),
    ("Brightwater Utilities", "UK01", "enterprise", True),
    ("Aldersgate Housing Trust", "UK01", "public-sector", True),
    ("Pemberton Retail", "UK01", "mid-market", False),
    ("Kestrel Pharmaceuticals", "UK01", "enterprise", True),
    ("Thameside NHS Foundation Trust", "UK01", "public-sector", True),
    ("Carrow Building Society", "UK01", "mid-market", False),
    ("Glenmoor Distilleries", "UK01", "mid-market", False),
    ("Ashcombe Rail Services", "UK01", "enterprise", True),
    ("Sable Ridge Energy", "US01", "enterprise", True),
    ("Corvane Logistics", "US01", "enterprise", True),
    ("Lakeshore Health Partners", "US01", "enterprise", True),
    ("Redfern Capital Advisors", "US01", "mid-market", False),
    ("Mesa Verde Foods", "US01", "mid-market", False),
    ("Harbor Point Bank", "US01", "enterprise", True),
    ("Tillman Aerospace", "US01", "enterprise", True),
    ("Crescent Valley Schools", "US01", "public-sector", True),
    ("Northgate Software", "US01", "mid-market", False),
    ("Bramford Chemicals", "US01", "mid-market", True),
    ("Oakridge Mutual", "US01", "enterprise", True),
    ("Lindqvist Medizintechnik", "DE01", "enterprise", True),
    ("Rheinwerk Maschinenbau", "DE01", "enterprise", True),
    ("Altmark Energie", "DE01", "enterprise", True),
    ("Hanseatic Shipping", "DE01", "mid-market", False),
    ("Stadtwerke Hollbach", "DE01", "public-sector", True),
    ("Falkenried Versicherung", "DE01", "enterprise", True),
    ("Weserland Logistik", "DE01", "mid-market", False),
    ("Ostalb Automotive", "DE01", "enterprise", True),
    ("Brenner Pharma", "DE01", "mid-market", True),
]

ROLES = [  # role, UK day rate (GBP); other entities scale by RATE_FACTOR
    ("Partner", Decimal("2400")), ("Director", Decimal("1950")), ("Senior Manager", Decimal("1600")),
    ("Manager", Decimal("1350")), ("Senior Consultant", Decimal("1100")), ("Consultant", Decimal("850")),
    ("Analyst", Decimal("620")),
]
RATE_FACTOR = {"UK01": Decimal("1"), "US01": Decimal("1.28"), "DE01": Decimal("1.16")}

FIRST = ["Olivia", "James", "Amelia", "Noah", "Isla", "Arjun", "Mei", "Lukas", "Hannah", "Mateo", "Chloe", "Daniel",
         "Sofia", "Ethan", "Anika", "Felix", "Grace", "Omar", "Lena", "Samuel", "Nadia", "Jonas", "Ruth", "Kwame"]
LAST = ["Hughes", "Patel", "Schneider", "Okafor", "Morgan", "Lindholm", "Chen", "Fischer", "Walsh", "Nakamura",
        "Brennan", "Costa", "Reid", "Hoffmann", "Adeyemi", "Larsen", "Ward", "Kowalski", "Moreau", "Singh"]

PRACTICES = ["Finance Transformation", "ERP Implementation", "Data & Analytics", "Cyber Resilience",
             "Operating Model", "Supply Chain", "Regulatory Change", "Cloud Migration"]


@dataclass(frozen=True)
class Client:
    id: str  # CL-000123, the Client schema's pattern
    name: str
    legal_entity: str
    segment: str
    po_required: bool

    @property
    def entity(self) -> LegalEntity:
        return LEGAL_ENTITIES[self.legal_entity]


@dataclass(frozen=True)
class Contract:
    code: str
    client: Client
    start: dt.date
    end: dt.date
    rate_card: str


@dataclass(frozen=True)
class Project:
    code: str  # P-12345, the Project schema's pattern
    name: str
    client: Client
    contract: Contract
    billing_type: str  # T&M, fixed-fee, retainer
    po_number: str
    consultants: tuple = field(default=())
    weekly_hours: int = 0
    milestones: tuple = field(default=())  # (name, amount, week index from the start of history)

    @property
    def currency(self) -> str:
        return self.client.entity.currency


@dataclass(frozen=True)
class Consultant:
    id: str  # WD-10042, the Workday worker id
    name: str
    role: str
    legal_entity: str


@dataclass(frozen=True)
class Estate:
    clients: tuple
    consultants: tuple
    contracts: tuple
    projects: tuple

    def client(self, name: str) -> Client:
        return next(c for c in self.clients if c.name == name)

    def projects_of(self, legal_entity: str) -> list:
        return [p for p in self.projects if p.client.legal_entity == legal_entity]


def rate_card_code(legal_entity: str, year: int) -> str:
    return f"RC-{legal_entity[:2]}-{year}-STD"


def day_rate(legal_entity: str, role: str) -> Decimal:
    base = dict(ROLES)[role]
    return (base * RATE_FACTOR[legal_entity]).quantize(Decimal("1"))


@cache
def estate(year: int = 2026) -> Estate:
    """The firm's books, the same for every call with the same year."""
    rng = random.Random(SEED)
    clients = tuple(Client(id=f"CL-{100_101 + 37 * n:06d}", name=name, legal_entity=le, segment=segment,
                           po_required=po) for n, (name, le, segment, po) in enumerate(CLIENTS))
    consultants = []
    roles = [r for r, _ in ROLES]
    weights = [1, 2, 3, 4, 6, 6, 4]
    for n in range(48):
        le = ("UK01", "US01", "DE01")[n % 3]
        consultants.append(Consultant(id=f"WD-{10_040 + n * 3}", name=f"{FIRST[n % len(FIRST)]} {LAST[(n * 7) % len(LAST)]}",
                                      role=rng.choices(roles, weights)[0], legal_entity=le))
    contracts, projects = [], []
    project_no = 40_117
    for index, client in enumerate(clients):
        start = dt.date(year - 1, 1 + index % 12, 1)
        contract = Contract(code=f"CTR-{client.legal_entity}-{index + 31:04d}", client=client, start=start,
                            end=dt.date(year + 1, 1 + index % 12, 1) - dt.timedelta(days=1),
                            rate_card=rate_card_code(client.legal_entity, year))
        contracts.append(contract)
        staff = [c for c in consultants if c.legal_entity == client.legal_entity]
        for k in range(1 + (index % 2 == 0) + (client.segment == "enterprise")):
            practice = PRACTICES[(index + k * 3) % len(PRACTICES)]
            billing = ("T&M", "T&M", "fixed-fee", "T&M", "retainer")[(index + k) % 5]
            team = tuple(rng.sample(staff, 3 + (index + k) % 3))
            milestones = ()
            if billing == "fixed-fee":
                size = Decimal(rng.choice([45_000, 60_000, 85_000, 120_000])) * RATE_FACTOR[client.legal_entity]
                milestones = tuple((f"Phase {m + 1} sign-off", size.quantize(Decimal("1000")), 2 + m * 4 + index % 3)
                                   for m in range(3))
            po = f"PO-{4_500_000 + index * 211 + k}" if client.po_required else ""
            projects.append(Project(code=f"P-{project_no}", name=f"{client.name}: {practice}", client=client,
                                    contract=contract, billing_type=billing, po_number=po, consultants=team,
                                    weekly_hours=sum(rng.choice([16, 24, 32, 36]) for _ in team),
                                    milestones=milestones))
            project_no += 13
    return Estate(clients=clients, consultants=tuple(consultants), contracts=tuple(contracts), projects=tuple(projects))


def week_start(now: dt.datetime, weeks_back: int) -> dt.datetime:
    """Monday 00:00 of the week ``weeks_back`` weeks before the current one (0 = this week)."""
    monday = (now - dt.timedelta(days=now.weekday())).replace(hour=0, minute=0, second=0, microsecond=0)
    return monday - dt.timedelta(weeks=weeks_back)


def tax_change_day(now: dt.datetime) -> dt.datetime:
    """Monday of last week, 18:00 UTC: NetSuite's UK VAT codes were renamed (GB-VAT20 ->
    GB-S20) and that night's tax-code feed to Certinia failed, so from Tuesday's billing run
    on, UK invoices bounced."""
    return week_start(now, 1) + dt.timedelta(hours=18)


def invoice_number(legal_entity: str, sequence: int) -> str:
    """INV-<entity digit><5 digits>: matches the approved Invoice schema's ``^INV-[0-9]+$``."""
    return f"INV-{LEGAL_ENTITIES[legal_entity].invoice_prefix}{sequence % 100_000:05d}"


def schedule_period_minutes(cron: str) -> int | None:
    """How often a cron schedule runs, roughly, in minutes (None without a schedule):
    ``*/15 * * * *`` -> 15, ``0 */4 * * *`` -> 240, ``0 2 * * *`` -> 1440, ``0 2 * * 1-5``
    -> 4320 (the weekend gap), ``0 6 * * 1`` -> 10080."""
    parts = (cron or "").split()
    if len(parts) != 5:
        return None
    minute, hour, _dom, _month, weekday = parts
    if minute.startswith("*/"):
        return int(minute[2:])
    if hour.startswith("*/"):
        return int(hour[2:]) * 60
    if hour == "*":
        return 60
    if weekday == "1-5":
        return 3 * 1440
    if weekday not in ("*", "?"):
        return 7 * 1440
    return 1440
