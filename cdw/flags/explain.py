"""The explanation catalogue: the one place where a flag's one-sentence explanation is
worded, in Chinese and in English, from the values its check measured and the thresholds it
applied (DESIGN.md §3: an officer sees *why* without re-running anything).

A check states facts; ``explain(code, measured, thresholds, wording)`` turns them into the
sentence pair. ``measured`` holds the figures at full precision (the flag keeps them to
0.1), ``wording`` the names a sentence needs beyond them (a zone kind's label, a road's
Chinese name, a permit number).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from cdw.flags.codes import FlagCode

Facts = Mapping[str, Any]
Sentence = Callable[[Facts, Facts, Facts], tuple[str, str]]

# SUSPECTED_DUMPING: what raised a stop's score, in the order the check scores them.
DUMPING_FACTORS = {
    "near_facility": ("靠近消纳场但在场外", "near a facility but outside its fence"),
    "off_route": ("不在核准路线上", "off the approved route"),
    "night": ("夜间", "at night"),
    "hotspot": ("位于已知偷倒点", "at a known dumping hotspot"),
    "load_dropped": ("载重状态由重变空", "load bits went from loaded to empty"),
    "never_reaches_facility": ("未到达核准消纳场", "the leg never reaches its facility"),
}
# TAMPER_SUSPECTED: the JT/T 808 alarm bits that point to a terminal cut off its truck.
ALARM_LABELS = {
    8: ("主电源掉电", "main power cut"),
    5: ("GNSS 天线未接或被剪断", "GNSS antenna disconnected or cut"),
    4: ("GNSS 模块故障", "GNSS module fault"),
}


def dur_zh(seconds: float) -> str:
    """``45 秒`` under two minutes, else ``12.5 分钟``."""
    return f"{seconds:.0f} 秒" if seconds < 120 else f"{seconds / 60:.1f} 分钟"


def dur_en(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def dist_zh(metres: float) -> str:
    """``350 米`` under a kilometre, else ``1.25 公里``."""
    return f"{metres:.0f} 米" if metres < 1000 else f"{metres / 1000:.2f} 公里"


def dist_en(metres: float) -> str:
    return f"{metres:.0f} m" if metres < 1000 else f"{metres / 1000:.2f} km"


def _clock(local_iso: str) -> str:
    """``14:05:30`` for a local ISO-8601 time."""
    return datetime.fromisoformat(local_iso).strftime("%H:%M:%S")


def _route_deviation(m: Facts, th: Facts, _: Facts) -> tuple[str, str]:
    off_s, off_m, max_m = m["off_route_duration_s"], m["off_route_distance_m"], m["max_offset_m"]
    extra_m, extra_s = m["extra_distance_m"], m["extra_time_s"]
    min_s, min_m = th["deviation_min_duration_s"], th["deviation_min_distance_m"]
    half = th["corridor_half_width_m"]
    zh = (
        f"重车偏离核准路线 {dur_zh(off_s)}、{dist_zh(off_m)}（阈值 "
        f"{dur_zh(min_s)}、{dist_zh(min_m)}，"
        f"走廊半宽 {dist_zh(half)}），最远偏离 {dist_zh(max_m)}，"
        f"多行驶 {dist_zh(extra_m)}、约 {dur_zh(extra_s)}"
    )
    en = (
        f"Loaded truck off the approved route for {dur_en(off_s)} and {dist_en(off_m)} "
        f"(thresholds {dur_en(min_s)}, "
        f"{dist_en(min_m)}; corridor half-width "
        f"{dist_en(half)}), up to {dist_en(max_m)} away, "
        f"{dist_en(extra_m)} and about {dur_en(extra_s)} extra"
    )
    if "network_detour_distance_m" in m:
        d_m, d_s = m["network_detour_distance_m"], m["network_detour_time_s"]
        r_m, r_s = m["network_route_distance_m"], m["network_route_time_s"]
        x_m, x_s = m["network_extra_distance_m"], m["network_extra_time_s"]
        zh += (
            f"；沿路网绕行 {dist_zh(d_m)}（约 {dur_zh(d_s)}），核准路线同段 {dist_zh(r_m)}"
            f"（约 {dur_zh(r_s)}），沿路网多行驶 {dist_zh(x_m)}、约 {dur_zh(x_s)}（按道路通行速度）"
        )
        en += (
            f"; along the road network the detour is {dist_en(d_m)} (about {dur_en(d_s)}) "
            f"against {dist_en(r_m)} (about {dur_en(r_s)}) on the approved route: "
            f"{dist_en(x_m)} and about {dur_en(x_s)} extra at the roads' free-flow speeds"
        )
    return zh, en


def _long_stop(m: Facts, th: Facts, _: Facts) -> tuple[str, str]:
    duration, least, radius = m["duration_s"], th["long_stop_min_duration_s"], th["stop_radius_m"]
    return (
        f"停留 {dur_zh(duration)}（阈值 {dur_zh(least)}），"
        f"半径 {dist_zh(radius)}内，位于授权区域外",
        f"Stopped {dur_en(duration)} (threshold {dur_en(least)}) "
        f"within {dist_en(radius)}, outside authorised zones",
    )


def _suspected_dumping(m: Facts, th: Facts, _: Facts) -> tuple[str, str]:
    duration, least, total = m["duration_s"], th["dumping_stop_min_duration_s"], m["score_total"]
    factors = [
        DUMPING_FACTORS[name] for name, points in m["score"].items() if name != "base" and points
    ]
    why_zh = "、".join(zh for zh, _ in factors) or "无其他加分项"
    why_en = ", ".join(en for _, en in factors) or "no other factor"
    near_zh = near_en = ""
    if m["score"].get("near_facility"):
        name, metres = m["nearest_facility"], m["nearest_facility_distance_m"]
        radius = th["dumping_facility_radius_m"]
        near_zh = f"（距「{name}」{dist_zh(metres)}，阈值 {dist_zh(radius)}）"
        near_en = f" ({dist_en(metres)} from '{name}', threshold {dist_en(radius)})"
    return (
        f"重车在授权区域外停留 {dur_zh(duration)}（阈值 {dur_zh(least)}），"
        f"评分 {total}：{why_zh}{near_zh}",
        f"Loaded truck stopped {dur_en(duration)} (threshold {dur_en(least)}) outside "
        f"authorised zones, score {total}: {why_en}{near_en}",
    )


def _wrong_destination(m: Facts, _: Facts, wording: Facts) -> tuple[str, str]:
    arrived, permit_no = m["arrived_facility"], wording["permit_no"]
    permitted = m["permitted_facility"] or f"#{m['permitted_facility_id']}"
    return (
        f"重车驶入消纳场「{arrived}」，而核准 {permit_no} 的消纳场为「{permitted}」",
        f"Loaded truck arrived at facility '{arrived}', but permit {permit_no} names "
        f"facility '{permitted}'",
    )


def _road_zh(road: Facts) -> str:
    posted = "未标限速" if road["limit_kmh"] is None else f"限速 {road['limit_kmh']:.0f}"
    return f"{road['road_zh']} {posted}（{road['distance_m']:.0f} 米）"


def _road_en(road: Facts) -> str:
    posted = "no limit" if road["limit_kmh"] is None else f"{road['limit_kmh']:.0f} km/h"
    return f"{road['road']} {posted} ({road['distance_m']:.0f} m)"


def _speed_road_clause(m: Facts, th: Facts, wording: Facts) -> tuple[str, str]:
    """Which road's limit applied and why, and the other roads considered (with a network)."""
    truck, limit, radius = th["truck_speed_limit_kmh"], th["speed_limit_kmh"], m["road_radius_m"]
    road = wording["road"]
    if road is None:
        zh = f"；{dist_zh(radius)}内无道路，适用货车限速 {truck:.0f} km/h"
        en = f"; no road within {dist_en(radius)}: the truck limit of {truck:.0f} km/h applies"
    elif m["limit_applied"] == "truck":
        posted = road["limit_kmh"]
        sign_zh = "未标限速" if posted is None else f"限速 {posted:.0f} km/h"
        sign_en = "no posted limit" if posted is None else f"posted {posted:.0f} km/h"
        zh = f"；道路：{road['road_zh']}，{sign_zh}，适用货车限速 {truck:.0f} km/h"
        en = f"; road: {road['road']}, {sign_en}: the truck limit of {truck:.0f} km/h applies"
    else:
        source_zh, source_en = road["limit_source_zh"], road["limit_source"]
        zh = (
            f"；道路：{road['road_zh']}，限速 {limit:.0f} km/h（{source_zh}），"
            f"{dist_zh(radius)}内车辆可能所在的道路限速均低于车速"
        )
        en = (
            f"; road: {road['road']}, posted {limit:.0f} km/h ({source_en}); every road "
            f"within {dist_en(radius)} is posted below the speed"
        )
    others = wording["other_roads"]
    if others:
        zh += "；另查道路：" + "、".join(_road_zh(r) for r in others)
        en += "; also considered: " + ", ".join(_road_en(r) for r in others)
    return zh, en


def _speeding(m: Facts, th: Facts, wording: Facts) -> tuple[str, str]:
    limit, least = th["speed_limit_kmh"], th["speeding_min_duration_s"]
    duration, peak, distance = m["duration_s"], m["max_speed_kmh"], m["distance_m"]
    road_zh, road_en = _speed_road_clause(m, th, wording) if "limit_applied" in m else ("", "")
    return (
        f"车速超过 {limit:.0f} km/h 持续 {dur_zh(duration)}（阈值 {dur_zh(least)}），"
        f"最高 {peak:.1f} km/h，行驶 {dist_zh(distance)}{road_zh}",
        f"Above {limit:.0f} km/h for {dur_en(duration)} (threshold {dur_en(least)}), "
        f"peak {peak:.1f} km/h over {dist_en(distance)}{road_en}",
    )


def _out_of_hours(m: Facts, th: Facts, _: Facts) -> tuple[str, str]:
    window, duration, distance = th["allowed_hours"], m["duration_s"], m["distance_m"]
    t0, t1 = _clock(m["local_start"]), _clock(m["local_end"])
    return (
        f"重车在许可时段（{window}）外行驶 {dur_zh(duration)}、{dist_zh(distance)}（{t0}–{t1}）",
        f"Loaded truck moving outside permitted hours ({window}) for "
        f"{dur_en(duration)} and {dist_en(distance)} ({t0}–{t1})",
    )


def _restricted_zone(m: Facts, _: Facts, wording: Facts) -> tuple[str, str]:
    zone, duration, distance = m["zone"], m["duration_s"], m["distance_m"]
    kind = wording.get("zone_kind")
    kind_zh, kind_en = (f"（{kind[0]}）", f" ({kind[1]})") if kind else ("", "")
    note_zh = note_en = ""
    if m.get("on_matched_road"):
        note_zh, note_en = "，经地图匹配在该禁行道路上", ", map-matched onto the banned road"
    return (
        f"进入禁区「{zone}」{kind_zh}，区内 {dur_zh(duration)}、"
        f"{dist_zh(distance)}{note_zh}（任何进入均违规）",
        f"Inside restricted zone '{zone}'{kind_en} for {dur_en(duration)} "
        f"and {dist_en(distance)}{note_en} (any entry counts)",
    )


def _signal_gap(m: Facts, th: Facts, _: Facts) -> tuple[str, str]:
    if m.get("open"):  # the live engine's timeout: no fix since, so far
        duration, gap_s = m["duration_s"], th["signal_gap_s"]
        return (
            f"已 {dur_zh(duration)}无定位数据（阈值 {dur_zh(gap_s)}），信号尚未恢复",
            f"No fix for {dur_en(duration)} so far (threshold {dur_en(gap_s)}); "
            "the signal has not come back",
        )
    duration, jump, gap_s = m["duration_s"], m["jump_m"], th["signal_gap_s"]
    return (
        f"无定位数据 {dur_zh(duration)}（阈值 {dur_zh(gap_s)}），前后两点相距 {dist_zh(jump)}",
        f"No fix for {dur_en(duration)} (threshold {dur_en(gap_s)}); "
        f"the fixes either side are {dist_en(jump)} apart",
    )


def _tamper(m: Facts, th: Facts, _: Facts) -> tuple[str, str]:
    parts_zh, parts_en = [], []
    if "jump_m" in m:
        gap, jump = m["gap_duration_s"], m["jump_m"]
        gap_s, jump_m = th["signal_gap_s"], th["tamper_min_jump_m"]
        parts_zh.append(
            f"信号中断 {dur_zh(gap)}（阈值 {dur_zh(gap_s)}），恢复时位置相距 {dist_zh(jump)}"
            f"（阈值 {dist_zh(jump_m)}），车辆在无定位状态下行驶"
        )
        parts_en.append(
            f"no fix for {dur_en(gap)} (threshold {dur_en(gap_s)}) and the track resumed "
            f"{dist_en(jump)} away (threshold {dist_en(jump_m)}): the truck drove unseen"
        )
    if "alarm_bits" in m:
        bits, n_fixes, duration = m["alarm_bits"], m["alarm_fixes"], m["alarm_duration_s"]
        parts_zh.append(
            f"终端报警：{'、'.join(ALARM_LABELS[b][0] for b in bits)}，"
            f"{n_fixes} 个定位点、{dur_zh(duration)}"
        )
        parts_en.append(
            f"terminal alarm: {', '.join(ALARM_LABELS[b][1] for b in bits)} on {n_fixes} "
            f"fix(es) over {dur_en(duration)}"
        )
    en = "; ".join(parts_en)
    return "；".join(parts_zh), en[0].upper() + en[1:]


SENTENCES: dict[FlagCode, Sentence] = {
    FlagCode.ROUTE_DEVIATION: _route_deviation,
    FlagCode.LONG_STOP: _long_stop,
    FlagCode.SUSPECTED_DUMPING: _suspected_dumping,
    FlagCode.WRONG_DESTINATION: _wrong_destination,
    FlagCode.SPEEDING: _speeding,
    FlagCode.OUT_OF_HOURS: _out_of_hours,
    FlagCode.RESTRICTED_ZONE: _restricted_zone,
    FlagCode.SIGNAL_GAP: _signal_gap,
    FlagCode.TAMPER_SUSPECTED: _tamper,
}


def explain(
    code: FlagCode, measured: Facts, thresholds: Facts, wording: Facts | None = None
) -> tuple[str, str]:
    """The (Chinese, English) explanation of a ``code`` flag with these figures."""
    return SENTENCES[code](measured, thresholds, wording or {})
