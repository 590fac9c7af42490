"""Realistic Chinese names and valid mainland mobile numbers, for demo data, the
benchmark generator and test factories. Deterministic for a given random source."""

from __future__ import annotations

import random

# The most common family names, roughly in order of frequency; earlier ones are
# drawn more often, as in a real customer base.
SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余"
    "杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史"
)
COMPOUND_SURNAMES = ["欧阳", "司马", "上官", "诸葛", "东方"]
GIVEN_CHARS = (
    "伟芳娜秀敏静丽强磊军洋勇艳杰娟涛明超霞平刚桂英华玉兰萍红鹏辉建国志文海燕云飞宇浩然"
    "欣怡子涵梓轩晨阳思远雨萱佳琪一诺俊杰婷雪梅晓东立新春生秋菊冬梅永安嘉豪博文宏伟晶晶"
)
COMPANY_PREFIXES = [
    "华润",
    "中信",
    "鼎盛",
    "恒达",
    "远景",
    "宏图",
    "金桥",
    "瑞丰",
    "和信",
    "安泰",
]
COMPANY_SUFFIXES = [
    "贸易有限公司",
    "科技有限公司",
    "投资有限公司",
    "实业有限公司",
    "咨询有限公司",
]
# Mobile network prefixes in use in mainland China.
MOBILE_PREFIXES = [
    "130",
    "131",
    "132",
    "133",
    "134",
    "135",
    "136",
    "137",
    "138",
    "139",
    "150",
    "151",
    "152",
    "153",
    "155",
    "156",
    "157",
    "158",
    "159",
    "166",
    "170",
    "171",
    "173",
    "175",
    "176",
    "177",
    "178",
    "180",
    "181",
    "182",
    "183",
    "184",
    "185",
    "186",
    "187",
    "188",
    "189",
    "191",
    "193",
    "195",
    "196",
    "197",
    "198",
    "199",
]


def chinese_name(rng: random.Random) -> str:
    if rng.random() < 0.01:
        surname = rng.choice(COMPOUND_SURNAMES)
    else:
        # A skewed draw: low indexes (common surnames) come up more often.
        surname = SURNAMES[int(len(SURNAMES) * rng.random() ** 2)]
    length = 1 if rng.random() < 0.3 else 2
    return surname + "".join(rng.choice(GIVEN_CHARS) for _ in range(length))


def company_name(rng: random.Random) -> str:
    city = rng.choice(["上海", "杭州", "苏州", "南京", "宁波"])
    return city + rng.choice(COMPANY_PREFIXES) + rng.choice(COMPANY_SUFFIXES)


def mobile_number(rng: random.Random) -> str:
    """An E.164 mainland mobile number."""
    return f"+86{rng.choice(MOBILE_PREFIXES)}{rng.randrange(10**8):08d}"
