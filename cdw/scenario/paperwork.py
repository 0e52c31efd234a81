"""Manifests and receipts as the site and facility gates issue them, with their labelled violations."""

from __future__ import annotations

from typing import Any

from cdw.scenario.bundle import RECEIPT_COLUMNS, H, iso

DENSITY_T_PER_M3 = {
    "excavated_soil": 1.5,
    "slurry": 1.4,
    "construction": 1.3,
    "demolition": 1.2,
    "renovation": 0.9,
}


class Paperwork:
    """Issues the day's manifests and receipts (part of ``DayBuilder``)."""

    def manifests(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        rng = self.rng
        manifests, receipts = [], []
        for leg in sorted(self.loaded_legs, key=lambda r: (r.depart, r.truck.index)):
            truck, permit = leg.truck, self.permits[leg.permit]
            code = self.plan.get((truck.index, leg.cycle))
            if code == "UNMANIFESTED_TRIP":
                self.label(
                    code,
                    truck,
                    leg.depart,
                    leg.arrive,
                    "无联单的重车运输 / loaded leg without a manifest",
                )
                continue
            ratio = float(
                rng.uniform(1.15, 1.3)
                if code == "OVERLOAD"
                else rng.uniform(0.96, 0.99)
                if code == "NEAR:OVERLOAD"
                else rng.uniform(0.8, 0.95)
            )
            volume = round(truck.capacity_m3 * ratio, 1)
            manifest = {
                "manifest_no": "",
                "permit_no": permit["permit_no"],
                "plate": truck.plate,
                "driver_licence_no": truck.driver_licence,
                "site": permit["site"],
                "facility": permit["facility"],
                "category": leg.category,
                "declared_volume_m3": volume,
                "issued_at": leg.depart - float(rng.uniform(60, 180)),
                "departed_at": leg.depart,
            }
            manifests.append(manifest)
            end = leg.arrive if leg.arrive is not None else leg.depart + 3600
            if code == "OVERLOAD":
                self.label(
                    code,
                    truck,
                    leg.depart,
                    end,
                    f"申报 {volume} 立方米，超过核定容积 {truck.capacity_m3} 立方米 / declared {volume} m³ above the rated {truck.capacity_m3} m³",
                )
            if code == "NEAR:OVERLOAD":
                self.near(
                    "OVERLOAD",
                    truck,
                    leg.depart,
                    end,
                    f"申报 {volume} 立方米，略低于核定容积 {truck.capacity_m3} 立方米 / declared {volume} m³, just under the rated {truck.capacity_m3} m³",
                )
            if truck.unauthorised:
                self.label(
                    "UNAUTHORISED_VEHICLE",
                    truck,
                    leg.depart,
                    end,
                    "车辆审验已过期 / vehicle inspection expired",
                )
            if (
                leg.arrive is None
                or leg.facility != permit["facility_index"]
                or code == "NO_RECEIPT"
            ):
                if code == "NO_RECEIPT":
                    why = "消纳场未确认收货 / the facility never confirmed it"
                elif leg.arrive is None:
                    why = "途中偷倒，未到消纳场 / dumped on the way, never reached the facility"
                else:
                    why = "卸于非核准消纳场 / tipped at a facility the permit does not name"
                self.label(
                    "NO_RECEIPT",
                    truck,
                    manifest["issued_at"],
                    end,
                    f"联单未闭合 / manifest never received: {why}",
                )
                continue
            # a near-miss load is received at or under its declaration, so under capacity too
            received = volume * float(
                rng.uniform(0.7, 0.8)
                if code == "QUANTITY_DISCREPANCY"
                else rng.uniform(0.91, 0.93)
                if code == "NEAR:QUANTITY_DISCREPANCY"
                else rng.uniform(0.97, 1.0)
                if code == "NEAR:OVERLOAD"
                else rng.uniform(0.97, 1.03)
            )
            # a late confirmation stays within the 4 h transit allowance (a near miss)
            late = code == "NEAR:NO_RECEIPT"
            at = (
                manifest["issued_at"] + float(rng.uniform(3.3, 3.7)) * H
                if late
                else leg.arrive + float(rng.uniform(60, 240))
            )
            receipt = self._receipt(manifest, max(at, leg.arrive + 60), received, leg.category)
            receipts.append(receipt)
            if late:
                self.near(
                    "NO_RECEIPT",
                    truck,
                    manifest["issued_at"],
                    receipt["received_at"],
                    "消纳场在签发后约 3.5 小时才确认收货（限时 4 小时内）/ received ~3.5 h after issue, within the 4 h allowance",
                )
            if code == "NEAR:QUANTITY_DISCREPANCY":
                self.near(
                    "QUANTITY_DISCREPANCY",
                    truck,
                    leg.depart,
                    receipt["received_at"],
                    f"申报 {volume} 立方米，实收 {receipt['received_volume_m3']} 立方米（差额不足 10%）/ declared {volume} m³, received {receipt['received_volume_m3']} m³, under 10 % apart",
                )
            if code == "QUANTITY_DISCREPANCY":
                self.label(
                    code,
                    truck,
                    leg.depart,
                    receipt["received_at"],
                    f"申报 {volume} 立方米，实收 {receipt['received_volume_m3']} 立方米 / declared {volume} m³, received {receipt['received_volume_m3']} m³",
                )
        for ti in self.phantom:
            truck = self.trucks[ti]
            permit = self.permits[truck.permit]
            issued = self.last_fix[truck.plate] + float(rng.uniform(20, 40)) * 60
            volume = round(truck.capacity_m3 * float(rng.uniform(0.8, 0.95)), 1)
            manifest = {
                "manifest_no": "",
                "permit_no": permit["permit_no"],
                "plate": truck.plate,
                "driver_licence_no": truck.driver_licence,
                "site": permit["site"],
                "facility": permit["facility"],
                "category": permit["categories"][0],
                "declared_volume_m3": volume,
                "issued_at": issued,
                "departed_at": issued + 120,
            }
            manifests.append(manifest)
            receipt = self._receipt(
                manifest, issued + float(rng.uniform(35, 50)) * 60, volume, permit["categories"][0]
            )
            receipts.append(receipt)
            self.label(
                "RECEIPT_WITHOUT_TRIP",
                truck,
                issued,
                receipt["received_at"],
                "车辆收车后仍有联单和收货记录，无轨迹支持 / manifest and receipt while the truck was parked",
            )
        manifests.sort(key=lambda m: (m["issued_at"], m["plate"]))
        for k, m in enumerate(manifests):
            m["manifest_no"] = f"LD{self.day:%Y%m%d}{k + 1:06d}"
        receipts.sort(key=lambda r: (r["received_at"], r["plate"]))
        for k, r in enumerate(receipts):
            r["receipt_no"] = f"SN{self.day:%Y%m%d}{k + 1:06d}"
            r["manifest_no"] = r.pop("_manifest")["manifest_no"]
        for row in manifests:
            row["issued_at"], row["departed_at"] = (
                iso(self.day, row["issued_at"]),
                iso(self.day, row["departed_at"]),
            )
        for row in receipts:
            row["received_at"] = iso(self.day, row["received_at"])
        return manifests, [{k: r[k] for k in RECEIPT_COLUMNS} for r in receipts]

    def _receipt(
        self, manifest: dict[str, Any], at: float, volume: float, category: str
    ) -> dict[str, Any]:
        volume = round(volume, 1)
        weight = round(volume * DENSITY_T_PER_M3[category] * float(self.rng.uniform(0.97, 1.03)), 2)
        return {
            "_manifest": manifest,
            "receipt_no": "",
            "manifest_no": "",
            "plate": manifest["plate"],
            "facility": manifest["facility"],
            "received_at": at,
            "received_volume_m3": volume,
            "weighbridge_t": weight,
            "result": "accepted",
        }
