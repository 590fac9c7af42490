"""Keep the cached "who has an extension" (customers.telephony.extension_of) in step
with the admin's changes, so that every page knows without a query whether to open
the agent's screen-pop stream."""

from __future__ import annotations

from django.db import transaction
from django.db.models.signals import post_delete, post_init, post_save

from crm_site import auth_backends
from crm_site.models import User
from customers import telephony
from customers.models import AgentExtension


def _extension_saved(sender, instance: AgentExtension, **kwargs) -> None:
    # Moved to another user in the admin: the former one no longer has it.
    former = getattr(instance, "_former_user_id", None)
    if former and former != instance.user_id:
        telephony.remember_extension(former, "")
        transaction.on_commit(lambda: telephony.remember_extension(former, ""))
    user_id, extension = instance.user_id, instance.extension
    telephony.remember_extension(user_id, extension)
    transaction.on_commit(lambda: telephony.remember_extension(user_id, extension))


def _extension_loaded(sender, instance: AgentExtension, **kwargs) -> None:
    instance._former_user_id = instance.user_id


def _extension_deleted(sender, instance: AgentExtension, **kwargs) -> None:
    user_id = instance.user_id
    telephony.remember_extension(user_id, "")
    transaction.on_commit(lambda: telephony.remember_extension(user_id, ""))


def _user_saved(sender, instance: User, created: bool = False, **kwargs) -> None:
    # A new user has no extension yet (and may reuse the id of a deleted one).
    if created:
        telephony.remember_extension(instance.pk, "")


def connect() -> None:
    # Every page asks (base.html, whether to show the screen pop): read with the user.
    auth_backends.read_with_user("telephony-extension", telephony.extension_key)
    post_save.connect(
        _extension_saved, sender=AgentExtension, dispatch_uid="telephony-extension"
    )
    post_delete.connect(
        _extension_deleted, sender=AgentExtension, dispatch_uid="telephony-extension"
    )
    post_init.connect(
        _extension_loaded, sender=AgentExtension, dispatch_uid="telephony-extension"
    )
    post_save.connect(_user_saved, sender=User, dispatch_uid="telephony-user")
