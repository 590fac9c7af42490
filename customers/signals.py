"""Signals customers sends so the other apps can follow a merge in their own code.

customer_merged(sender=Customer, survivor, absorbed, record): each receiver moves its
rows from the absorbed customer to the survivor and returns {"app_label.model": [ids]}
of what it moved; the merge record keeps that, so a restore can move them back.

customer_merge_restored(sender=Customer, survivor, absorbed, record, moved): each receiver
moves the listed rows of its own models back to the absorbed customer.
"""

from __future__ import annotations

from django.dispatch import Signal

customer_merged = Signal()
customer_merge_restored = Signal()

# interaction_logged(sender=Interaction, interaction): a touch point landed on a timeline.
# Sales renews ownership protection on real follow-ups.
interaction_logged = Signal()
