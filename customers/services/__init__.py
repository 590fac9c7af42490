"""Use cases over customers. Other apps change customer data only through these."""

from __future__ import annotations

from customers.services.ownership import (
    customer_access_grant,
    customer_access_revoke,
    customer_owner_set,
    customers_to_pool,
)
from customers.services.personal_data import (
    PersonalDataRefused,
    customer_anonymise,
    personal_data_export,
    personal_data_file,
    personal_data_overview,
)
from customers.services.records import (
    AUDITED_FIELDS,
    CustomerAnonymised,
    CustomerMerged,
    DuplicateCustomer,
    HouseholdRefused,
    RevealLimitReached,
    consent_set,
    contact_point_add,
    contact_point_remove,
    contact_reveal,
    contact_reveals_since,
    customer_create,
    customer_find_by_phone,
    customer_update,
    existing_with_mobile,
    household_link,
)
from customers.services.timeline import interaction_log

__all__ = [
    "AUDITED_FIELDS",
    "CustomerAnonymised",
    "CustomerMerged",
    "DuplicateCustomer",
    "HouseholdRefused",
    "PersonalDataRefused",
    "RevealLimitReached",
    "consent_set",
    "contact_point_add",
    "contact_point_remove",
    "contact_reveal",
    "contact_reveals_since",
    "customer_access_grant",
    "customer_access_revoke",
    "customer_anonymise",
    "customer_create",
    "customer_find_by_phone",
    "customer_owner_set",
    "customer_update",
    "customers_to_pool",
    "existing_with_mobile",
    "household_link",
    "interaction_log",
    "personal_data_export",
    "personal_data_file",
    "personal_data_overview",
]
