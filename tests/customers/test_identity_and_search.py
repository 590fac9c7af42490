from __future__ import annotations

import pytest

from customers import services
from customers.identity import (
    InvalidIdNumber,
    id_number_hash,
    id_numbers_replaced,
    mask_id_number,
    validate_resident_id,
)
from customers.models import ContactPoint, Customer
from customers.querysets import search_ids
from customers.search import pinyin_keys
from tests.factories import CustomerFactory, UserFactory

VALID_ID = "11010519491231002X"


def test_resident_id_check_digit_is_verified():
    validate_resident_id(VALID_ID)
    with pytest.raises(InvalidIdNumber):
        validate_resident_id("110105194912310021")
    with pytest.raises(InvalidIdNumber):
        validate_resident_id("1101051949")


def test_id_hash_matches_equal_numbers_and_reveals_nothing():
    assert id_number_hash(VALID_ID) == id_number_hash(" 11010519491231002x ")
    assert VALID_ID not in id_number_hash(VALID_ID)
    assert id_number_hash("") == ""


def test_id_number_is_masked_but_for_the_ends():
    assert mask_id_number(VALID_ID) == "110***********002X"


SPOUSE_ID = "320102198001011234"


@pytest.mark.parametrize(
    "typed",
    [
        "11010519491231002X",
        "110105 19491231 002x",
        "110105-19491231-002X",
        "１１０１０５　１９４９１２３１　００２Ｘ",
    ],
)
def test_id_scrub_takes_out_the_number_however_it_was_typed(typed):
    text = f"证件{typed}，已核对"
    assert id_numbers_replaced(text, [VALID_ID], "***") == "证件***，已核对"


def test_id_scrub_keeps_another_persons_id_number_typed_after_a_space():
    text = f"两人身份证 {VALID_ID} {SPOUSE_ID} 签约"
    assert id_numbers_replaced(text, [VALID_ID], "***") == (
        f"两人身份证 *** {SPOUSE_ID} 签约"
    )


def test_id_scrub_keeps_the_date_and_numbers_on_the_next_lines():
    text = f"证件 {VALID_ID}\n2026-12-05 13900001111\n1-2-301"
    assert id_numbers_replaced(text, [VALID_ID], "***") == (
        "证件 ***\n2026-12-05 13900001111\n1-2-301"
    )


def test_id_scrub_keeps_a_unit_number_typed_just_before_the_number():
    text = f"1-2-301 {VALID_ID}"
    assert id_numbers_replaced(text, [VALID_ID], "***") == "1-2-301 ***"


def test_pinyin_keys_cover_full_pinyin_initials_and_surname_readings():
    assert pinyin_keys("张三") == ("zhangsan", "zs")
    full, _initials = pinyin_keys("曾伟")
    assert "zengwei" in full.split() and "cengwei" in full.split()


@pytest.fixture
def people(consultant):
    def make(name, mobile, **kw):
        return services.customer_create(
            actor=consultant, name=name, mobile=mobile, **kw
        )

    return {
        "zhangsan": make("张三", "+8613800138000"),
        "wangxiaoming": make("王小明", "+8613911112222"),
        "company": make("杭州远景科技有限公司", "+8613722223333", kind="company"),
        "staff": make("李四", "+8615844445555", company="Tencent 腾讯"),
    }


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("zhangsan", "zhangsan"),
        ("zs", "zhangsan"),
        ("ZhangSan", "zhangsan"),
        ("小明", "wangxiaoming"),
        ("王小明", "wangxiaoming"),
        ("wxm", "wangxiaoming"),
        ("12222", "wangxiaoming"),
        ("139 1111 2222", "wangxiaoming"),
        ("远景", "company"),
        ("tencent", "staff"),
        ("腾讯", "staff"),
    ],
)
def test_search_finds_by_pinyin_initials_substring_tail_and_company(
    people, query, expected
):
    found = list(Customer.objects.search(query, user=None).ranked())
    assert found == [people[expected]]


def test_search_finds_a_number_kept_as_a_further_contact(people):
    ContactPoint.objects.create(
        customer=people["zhangsan"], kind="landline", value="+862162345678"
    )
    assert list(Customer.objects.search("021-6234 5678", user=None)) == [
        people["zhangsan"]
    ]
    assert list(Customer.objects.search("5678", user=None)) == [people["zhangsan"]]


def test_a_whole_number_is_looked_up_in_one_query(people, django_assert_num_queries):
    """The mobile and the further numbers, in one round trip (UNION ALL)."""
    other = CustomerFactory(name="赵六", mobile="+8613900001111")
    ContactPoint.objects.create(
        customer=people["zhangsan"], kind="mobile", value="+8613900001111"
    )
    with django_assert_num_queries(1):
        ids = search_ids("139 0000 1111", user=None)
    assert sorted(ids) == sorted([other.pk, people["zhangsan"].pk])


@pytest.mark.parametrize(
    ("text", "expected"),
    [("zhangsan", "zhangsan"), ("远景", "company"), ("王小明", "wangxiaoming")],
)
def test_the_text_lookups_run_in_one_query(
    people, django_assert_num_queries, text, expected
):
    """Name, company, initials and full pinyin: each its own lookup, one round trip."""
    with django_assert_num_queries(1):
        ids = search_ids(text, user=None)
    assert people[expected].pk in ids
    assert len(ids) == len(set(ids))


def test_search_ranks_the_exact_name_first(consultant):
    later = CustomerFactory(name="张三丰")
    exact = CustomerFactory(name="张三")
    CustomerFactory(name="李张三")
    names = [c.name for c in Customer.objects.search("张三", user=None).ranked()]
    assert names[0] == exact.name
    assert names[1] == later.name
    assert set(names) == {"张三", "张三丰", "李张三"}


def test_absorbed_customers_are_not_found(people):
    absorbed = people["staff"]
    Customer.objects.filter(pk=absorbed.pk).update(merged_into=people["zhangsan"])
    assert not Customer.objects.live().search("李四", user=None).exists()


@pytest.mark.parametrize(
    "text", ["王小明", "王", "", "周冬冬", "Tencent 腾讯", "杭州远景科技有限公司"]
)
def test_the_pairs_index_function_makes_the_pairs_search_asks_for(db, text):
    from django.db import connection

    from customers.querysets import bigrams

    with connection.cursor() as cursor:
        cursor.execute("SELECT anju_bigrams(%s)", [text])
        (stored,) = cursor.fetchone()
    assert sorted(stored) == sorted(bigrams(text))


def test_chinese_text_is_found_in_order_and_by_one_character(consultant):
    wang = CustomerFactory(name="王小明")
    CustomerFactory(name="明小王")  # the same characters, another order
    CustomerFactory(name="周冬")
    assert list(Customer.objects.search("小明", user=None)) == [wang]
    assert list(Customer.objects.search("王小明", user=None)) == [wang]
    assert {c.name for c in Customer.objects.search("冬", user=None)} == {"周冬"}
    assert {c.name for c in Customer.objects.search("小", user=None)} == {
        "王小明",
        "明小王",
    }


def test_a_chinese_name_search_reads_the_pairs_index(consultant):
    """The planner is told to avoid sequential scans: what matters is that an index
    on the pairs can answer the lookup (README's Benchmarks give the speed)."""
    from django.db import connection

    from customers.querysets import _chars_match

    CustomerFactory(name="周冬")
    sql, params = (
        _chars_match(Customer.objects.all(), "name", "周冬")
        .order_by()
        .values("pk")
        .query.sql_with_params()
    )
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "customer_name_bigrams" in plan


@pytest.mark.parametrize(
    "text",
    [
        "周冬",
        "王小明",
        "杭州远景科技有限公司",
        "冬",
        "王%",
        "王'明",
        "\ue000\ue001",
        "Tencent 腾讯",
    ],
)
def test_chinese_text_is_looked_up_through_sql_compiled_once(consultant, text):
    """The name and company lookups of Chinese text are compiled once per process
    with a stand-in text; any other text then finds what the ORM's own query finds,
    whatever its length (its pairs are one array parameter)."""
    from customers.querysets import _compiled_ids, _lookups, _lookups_sql, matches_of

    for name in ["周冬", "王小明", "王%明", "王'明", "明小王", "冬"]:
        CustomerFactory(name=name)
    CustomerFactory(name="赵六", company="杭州远景科技有限公司")
    CustomerFactory(name="李四", company="Tencent 腾讯")
    matches = matches_of(text)
    found = _compiled_ids(_lookups_sql(matches.kind), matches.values)
    assert found == list(_lookups(matches))
    assert found or text == "\ue000\ue001"
    assert search_ids(text, user=None) == list(dict.fromkeys(found))
    assert _lookups_sql.cache_info().currsize >= 1


@pytest.mark.parametrize("text", ["王伟", "王"])
def test_a_name_search_reads_its_matches_once_each(consultant, text):
    """A Chinese search reads its matches' rows (crm_site.derived): a customer whose
    name and company both hold the text is found once, by its name; the scope and
    the rank apply to those rows, as they do to the ids of any other search."""
    both = CustomerFactory(
        name="王伟", company="王伟装修", assigned_consultant=consultant
    )
    company = CustomerFactory(name="李强", company="王伟装修")
    starts = CustomerFactory(name="王伟强")
    other = CustomerFactory(name="王伟", assigned_consultant=UserFactory())
    found = list(
        Customer.objects.visible_to(consultant, one=True)
        .search(text, user=None)
        .ranked()
    )
    expected = [both, starts, company] if text == "王伟" else [starts, company, both]
    assert sorted(c.pk for c in found) == sorted(c.pk for c in expected)
    assert other not in found
    if text == "王伟":
        assert found[0] == both and found[1] == starts
    assert sorted(search_ids(text, user=None)) == sorted(
        c.pk for c in [both, company, starts, other]
    )


def test_a_whole_number_is_looked_up_through_sql_compiled_once(consultant):
    """A search by a whole number (mobile or a further number) runs its lookup
    compiled once with a stand-in number: the ORM's query's ids, for any number."""
    from customers.models import ContactPoint
    from customers.querysets import Matches, _compiled_ids, _lookups, _lookups_sql

    first = CustomerFactory(mobile="+8613800138000")
    second = CustomerFactory(mobile="+8613900139000")
    ContactPoint.objects.create(
        customer=second, kind="landline", value="+8613800138000"
    )
    ContactPoint.objects.create(customer=first, kind="email", value="+8613700137000")
    # Her own mobile kept as a further number too: found once, by her mobile.
    ContactPoint.objects.create(customer=first, kind="mobile", value="+8613800138000")
    for full in ("+8613800138000", "+8613900139000", "+8613700137000", "+861"):
        found = _compiled_ids(_lookups_sql("number"), {"phone": full})
        assert sorted(found) == sorted(_lookups(Matches("number", {"phone": full})))
    assert sorted(search_ids("138 0013 8000", user=None)) == sorted(
        [first.pk, second.pk]
    )
    listed = Customer.objects.search("138 0013 8000", user=None).ranked()
    assert sorted(c.pk for c in listed) == sorted([first.pk, second.pk])
    # An e-mail "number" is not a phone: not found by it.
    assert search_ids("137 0013 7000", user=None) == []
    assert not Customer.objects.search("137 0013 7000", user=None).exists()


def test_the_compiled_name_lookups_refuse_a_parameter_made_from_the_text(
    db, monkeypatch
):
    """Should a lookup ever pass the text on in another form (a LIKE pattern, say),
    reusing the compiled SQL for another text would search for the stand-in: it is
    refused at compile time instead."""
    from customers import querysets

    def lookups_with_a_pattern(matches):
        text = matches.values["text"]
        return Customer.objects.filter(name__startswith=text).values_list(
            "pk", flat=True
        )

    monkeypatch.setattr(querysets, "_lookups", lookups_with_a_pattern)
    querysets._lookups_sql.cache_clear()
    try:
        with pytest.raises(AssertionError, match="take a parameter"):
            querysets.search_ids("周冬", user=None)
    finally:
        querysets._lookups_sql.cache_clear()
