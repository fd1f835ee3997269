"""The `mongodb` source: `persons` documents with personal data, nested fields and arrays.

No MongoDB server can be installed on the local stack (docker-compose runs a replica set),
so this path runs only there; its document generation is unit-tested here.

Each batch is one multi-document transaction (a replica set allows them) holding one
ordered bulk write. The collection is created with change stream pre- and post-images
enabled (MongoDB 6+), the MongoDB counterpart of REPLICA IDENTITY FULL: Debezium can then
emit the whole document before and after each change, not only the changed fields.

Address and credentials: $CDC_MONGODB_URI if set, else mongodb://<the source's address>
(`cdc_ods.endpoints`: $CDC_MONGODB_ADDRESS in docker-compose) with user cdc_admin and
$CDC_MONGODB_ADMIN_PASSWORD when that is set.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from datetime import datetime
from urllib.parse import quote_plus

from pymongo import DeleteOne, InsertOne, MongoClient, UpdateOne
from pymongo.collection import Collection
from pymongo.errors import CollectionInvalid, PyMongoError

from cdc_ods.errors import CdcError, ServiceError
from cdc_ods.producers import vocab
from cdc_ods.producers.ops import Kind, Mix, Op, OpGenerator, Row, WorkingSet, merge
from cdc_ods.secrets import ADMIN_USER, lookup_secret

COLLECTION = "persons"
TIERS = ["basic", "silver", "gold", "platinum"]
DIAL_CODES = {"US": "1", "GB": "44", "FR": "33", "DE": "49", "ES": "34", "IT": "39", "JP": "81", "BR": "55"}


def ascii_fold(text: str) -> str:
    """'Zoë' -> 'zoe'; scripts without a Latin form fold to nothing."""
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower().replace(" ", "")


class MongoOps(OpGenerator):
    """Persons: inserted, updated with `$set` on a few (sometimes nested) fields, deleted.

    Dates are naive UTC with millisecond precision, which is what a BSON date holds and
    what pymongo reads back."""

    mix = Mix({(COLLECTION, "insert"): 35, (COLLECTION, "update"): 50, (COLLECTION, "delete"): 15})

    def __init__(self, seed: int | str, next_ids: Mapping[str, int], working_set: int = 1000) -> None:
        super().__init__(seed, next_ids)
        self.persons = WorkingSet(working_set)

    def now(self) -> datetime:
        now = self.clock.tick().replace(tzinfo=None)
        return now.replace(microsecond=now.microsecond // 1000 * 1000)

    def make(self, table: str, kind: Kind) -> list[Op]:
        if kind == "insert" or not self.persons:
            document = self.person()
            self.persons.add(document["_id"], document, self.rng)
            return [Op(table, "insert", document["_id"], document)]
        key = self.persons.pick(self.rng)
        if kind == "delete":
            self.persons.remove(key)
            return [Op(table, "delete", key, {})]
        changes = self.person_changes(key)
        return [Op(table, "update", key, changes)]

    def person(self) -> Row:
        rng = self.rng
        key = self.new_id(COLLECTION)
        first, last = rng.choice(vocab.FIRST_NAMES), rng.choice(vocab.LAST_NAMES)
        now = self.now()
        birth = vocab.random_date(rng, 1940, 2008)
        return {
            "_id": key,
            "name": {"first": first, "last": last},
            "birth_date": datetime(birth.year, birth.month, birth.day),
            "email": self.email(first, last, key),
            "phone": self.phone(),
            "address": self.address(),
            "tags": rng.sample(vocab.INTERESTS, rng.randint(0, 3)),
            "devices": [
                {"platform": rng.choice(["ios", "android", "web"]), "push": rng.random() < 0.5}
                for _ in range(rng.randint(0, 2))
            ],
            "loyalty": {"tier": rng.choice(TIERS), "points": rng.randint(0, 50_000)},
            "active": rng.random() < 0.9,
            "created_at": now,
            "updated_at": now,
        }

    def email(self, first: str, last: str, key: int) -> str:
        local = ".".join(part for part in (ascii_fold(first), ascii_fold(last)) if part) or "user"
        return f"{local}{key}@{self.rng.choice(vocab.EMAIL_DOMAINS)}"

    def phone(self) -> str | None:
        if self.rng.random() < 0.1:
            return None
        code = self.rng.choice(list(DIAL_CODES.values()))
        return f"+{code} {self.rng.randint(100_000_000, 999_999_999)}"

    def address(self) -> Row:
        rng = self.rng
        return {
            "street": f"{rng.randint(1, 200)} {rng.choice(vocab.STREETS)}",
            "city": rng.choice(vocab.CITIES),
            "postcode": f"{rng.randint(1000, 99999):05d}",
            "country": rng.choice(vocab.COUNTRIES),
        }

    def person_changes(self, key: int) -> Row:
        """A `$set`: dotted names change one nested field and leave its siblings alone."""
        rng = self.rng
        current = self.persons.rows[key]
        address = self.address()
        candidates = {
            "email": lambda: self.email(
                current["name"]["first"], current["name"]["last"], rng.randint(1, 10**6)
            ),
            "phone": self.phone,
            "address.city": lambda: address["city"],
            "address": lambda: address,
            "tags": lambda: rng.sample(vocab.INTERESTS, rng.randint(0, 4)),
            "loyalty.points": lambda: rng.randint(0, 50_000),
            "loyalty.tier": lambda: rng.choice(TIERS),
            "name.last": lambda: rng.choice(vocab.LAST_NAMES),
            "active": lambda: rng.random() < 0.9,
        }
        fields = self.pick_columns(list(candidates))
        if "address" in fields and "address.city" in fields:  # MongoDB refuses overlapping paths
            fields.remove("address.city")
        changes = {name: candidates[name]() for name in fields} | {"updated_at": self.now()}
        self.persons.rows[key] = merge(current, changes)
        return changes


def request(op: Op) -> InsertOne | UpdateOne | DeleteOne:
    """The pymongo bulk-write request of one operation."""
    if op.kind == "insert":
        return InsertOne(dict(op.values))
    if op.kind == "update":
        return UpdateOne({"_id": op.key}, {"$set": dict(op.values)})
    return DeleteOne({"_id": op.key})


def mongo_uri(address: str) -> tuple[str, str]:
    """(URI, address to name in messages) of the server at `address` (see the module docstring)."""
    uri = lookup_secret(None, "CDC_MONGODB_URI")  # it may carry a password
    if uri is not None:
        return uri.get_secret_value(), address
    password = lookup_secret(None, "CDC_MONGODB_ADMIN_PASSWORD")
    auth = f"{ADMIN_USER}:{quote_plus(password.get_secret_value())}@" if password else ""
    # directConnection: a single-node replica set advertises a host name only its
    # containers resolve; talking to the node directly avoids that.
    return f"mongodb://{auth}{address}/?directConnection=true", address


class MongoTarget:
    name = "mongodb"

    def __init__(self, uri: str, address: str, database: str, timeout_ms: int = 5000) -> None:
        self.uri = uri
        self.timeout_ms = timeout_ms
        self.address = address
        self.database = database
        self._client: MongoClient | None = None

    @property
    def client(self) -> MongoClient:
        if self._client is None:
            raise CdcError("mongodb: producer used before open()")
        return self._client

    @property
    def collection(self) -> Collection:
        return self.client[self.database][COLLECTION]

    def open(self) -> None:
        self._client = MongoClient(self.uri, serverSelectionTimeoutMS=self.timeout_ms, tz_aware=False)
        try:
            self._client.admin.command("ping")
        except PyMongoError as exc:
            self.close()
            # pymongo appends timeouts and the whole topology; keep the first cause
            reason = str(exc).split(" (configured timeouts")[0].split(", Timeout:")[0]
            reason = reason.removeprefix(f"{self.address}: ")
            raise ServiceError(f"mongodb: cannot connect to {self.address}: {reason}") from None
        db = self._client[self.database]
        images = {"enabled": True}
        try:
            try:
                db.create_collection(COLLECTION, changeStreamPreAndPostImages=images)
            except CollectionInvalid:  # exists already
                db.command("collMod", COLLECTION, changeStreamPreAndPostImages=images)
        except PyMongoError as exc:
            raise CdcError(f"mongodb at {self.address}: creating {COLLECTION} failed: {exc}") from None

    def next_ids(self) -> dict[str, int]:
        last = self.collection.find_one({}, projection={"_id": 1}, sort=[("_id", -1)])
        return {COLLECTION: last["_id"] + 1 if last else 1}

    def generator(self, seed: int | str) -> MongoOps:
        return MongoOps(seed, self.next_ids())

    def committed(self, ops: Sequence[Op]) -> bool | None:
        """Never asked: a failed MongoDB transaction ends the run (no `ConnectionLost`)."""
        return None

    def write(self, ops: Sequence[Op]) -> None:
        requests = [request(op) for op in ops]
        try:
            with self.client.start_session() as session:
                session.with_transaction(
                    lambda s: self.collection.bulk_write(requests, ordered=True, session=s)
                )
        except PyMongoError as exc:
            raise CdcError(f"mongodb at {self.address}: transaction failed: {exc}") from None

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
