"""A generated corp: N associates × M external contacts each, at WeCom's sizes (5,000 × 4,000 = 20M relations),
served page by page from arithmetic on (associate, slot) and never held as objects, so benchmarks and scale tests
sync a national brand's contacts through the real endpoints.

Associate i's contacts in generation g are slots [g·k, g·k + M), k = round(churn · M): each new generation
(`POST /control/generated {"generation": g}`) the first k of every associate's contacts are gone and k new ones
appear, which gives an incremental sync its work. With `shared_every` n, every n-th slot of an odd-numbered associate
i is the same person as associate i − 1's slot (one customer, two associates' friend). Everything a contact shows is a
pure function of (seed, person, slot), so two syncs of the same generation read the same data.
"""

from dataclasses import asdict, dataclass

# Slots of one associate, across every generation, stay below this: person = associate · STRIDE + slot.
STRIDE = 10**9
_EXTERNAL_PREFIX = "wmGEN"
CREATETIME_BASE = 1_600_000_000


@dataclass(frozen=True)
class GeneratedCorp:
    associates: int
    contacts_per_associate: int
    seed: int = 1
    generation: int = 0
    churn: float = 0.0
    shared_every: int = 0

    @classmethod
    def from_body(cls, body: dict, current: "GeneratedCorp | None") -> "GeneratedCorp | None":
        """The corp a /control/generated body sets (fields not given keep their current value); None when it turns
        the generated corp off (associates 0). ValueError names the first bad field and changes nothing."""
        values = asdict(current) if current else asdict(cls(associates=0, contacts_per_associate=0))
        for name, value in body.items():
            if name not in values:
                raise ValueError(f"unknown field {name!r}")
            values[name] = value
        for name, low, high in (
            ("associates", 0, 100_000),
            ("contacts_per_associate", 0, 100_000),
            ("seed", 0, 999),
            ("generation", 0, 10_000),
            ("shared_every", 0, 1_000_000),
        ):
            value = values[name]
            if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
                raise ValueError(f"{name} must be an integer from {low} to {high}")
        churn = values["churn"]
        if not isinstance(churn, int | float) or isinstance(churn, bool) or not 0 <= churn <= 1:
            raise ValueError("churn must be a number from 0 to 1")
        values["churn"] = float(churn)
        corp = cls(**values)
        if corp.associates and corp.first_slot + corp.contacts_per_associate >= STRIDE:
            raise ValueError("too many generations for this corp")
        return corp if corp.associates else None

    # Members ------------------------------------------------------------------------------------

    def userid(self, index: int) -> str:
        return f"g{self.seed:03d}u{index:06d}"

    def userids(self) -> list[str]:
        return [self.userid(index) for index in range(self.associates)]

    def index_of(self, userid: str) -> int | None:
        prefix = f"g{self.seed:03d}u"
        if not userid.startswith(prefix) or not userid[len(prefix) :].isdigit():
            return None
        index = int(userid[len(prefix) :])
        return index if index < self.associates and userid == self.userid(index) else None

    # Contacts -----------------------------------------------------------------------------------

    @property
    def first_slot(self) -> int:
        return self.generation * round(self.churn * self.contacts_per_associate)

    def count(self, index: int) -> int:
        return self.contacts_per_associate

    def person(self, index: int, slot: int) -> int:
        if self.shared_every and index % 2 == 1 and slot % self.shared_every == 0:
            return (index - 1) * STRIDE + slot
        return index * STRIDE + slot

    def external_userid(self, person: int) -> str:
        return f"{_EXTERNAL_PREFIX}{self.seed:03d}{person:024d}"

    def person_of(self, external_userid: str) -> int | None:
        prefix = f"{_EXTERNAL_PREFIX}{self.seed:03d}"
        if not external_userid.startswith(prefix) or not external_userid[len(prefix) :].isdigit():
            return None
        return int(external_userid[len(prefix) :])

    def followers(self, person: int) -> list[tuple[int, int]]:
        """The (associate, slot) pairs whose contact `person` is in this generation."""
        index, slot = divmod(person, STRIDE)
        pairs = []
        window = range(self.first_slot, self.first_slot + self.contacts_per_associate)
        if index < self.associates and slot in window and self.person(index, slot) == person:
            pairs.append((index, slot))
        shared = self.shared_every and index % 2 == 0 and slot % self.shared_every == 0
        if shared and index + 1 < self.associates and slot in window:
            pairs.append((index + 1, slot))
        return pairs

    def slots(self, index: int, offset: int, limit: int) -> range:
        """Associate `index`'s contact slots from `offset` (0-based, in the order WeCom lists them), at most `limit`."""
        start = self.first_slot + offset
        return range(start, min(start + limit, self.first_slot + self.contacts_per_associate))

    def contact(self, person: int, avatar_base: str) -> dict:
        external_userid = self.external_userid(person)
        contact = {
            "external_userid": external_userid,
            "name": f"客户{person % STRIDE}-{person // STRIDE}",
            "type": 2 if person % 50 == 0 else 1,
            "avatar": f"{avatar_base}/avatar/{external_userid}.svg",
            "gender": person % 3,
        }
        if person % 2 == 0:
            contact["unionid"] = f"oGEN{self.seed:03d}{person:021d}"
        return contact

    def follow_info(self, index: int, slot: int) -> dict:
        userid = self.userid(index)
        return {
            "userid": userid,
            "remark": f"备注{slot}" if slot % 5 == 0 else "",
            "description": "",
            "createtime": CREATETIME_BASE + slot * 60 + index,
            "tag_id": [],
            "remark_mobiles": [],
            "oper_userid": userid,
            "add_way": slot % 4,
        }
