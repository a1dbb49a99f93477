"""A small help centre of a fictional shop, and questions whose answer is known: the article
that answers each. The recall tests search it; docs/knowledge.md records the figures."""

from __future__ import annotations

ARTICLES: dict[str, tuple[str, str]] = {
    "refunds": (
        "Refunds",
        "# Refunds\n\nWe refund any order within 30 days of delivery. Refunds go back to the "
        "card or account you paid with and take 5 to 10 business days to appear.\n\n"
        "## Partial refunds\n\nWhen only part of an order comes back, we refund the items "
        "returned and keep the original shipping fee.",
    ),
    "returns": (
        "Sending items back",
        "# How to send items back\n\nPrint the label from your order page, pack the items in "
        "their original box and drop the box at any post office within 30 days.\n\n"
        "Items that were worn, washed or personalised cannot be sent back.",
    ),
    "shipping": (
        "Shipping times",
        "# Shipping\n\nOrders placed before 14:00 leave our warehouse the same working day. "
        "Standard shipping takes 2 to 4 working days within the EU; express takes one.\n\n"
        "## Tracking\n\nA tracking link is emailed as soon as the courier collects the order.",
    ),
    "international": (
        "Shipping outside the EU",
        "# International orders\n\nWe ship to the UK, Switzerland, Norway, the United States "
        "and Canada. Import duties and taxes are paid by the recipient on arrival.",
    ),
    "pricing": (
        "Plans and prices",
        "# Plans\n\nThe Basic plan is 9 euros a month, the Pro plan 29 euros a month. Yearly "
        "plans get two months free.\n\nPrices include VAT for customers in the EU.",
    ),
    "password": (
        "Resetting your password",
        "# Forgot your password?\n\nUse the 'Forgot password' link on the sign-in page; we "
        "email a link that works for one hour. After five wrong attempts the account is "
        "locked for fifteen minutes.",
    ),
    "cancel": (
        "Ending a subscription",
        "# Cancelling\n\nYou can cancel your subscription at any time under Account → Plan. "
        "It stays active until the end of the period already paid; nothing more is charged.",
    ),
    "invoices": (
        "Invoices",
        "# Invoices\n\nEvery payment produces an invoice, downloadable as PDF from Account → "
        "Billing. To add your company's VAT number, edit the billing details before paying.",
    ),
    "warranty": (
        "Warranty",
        "# Warranty\n\nAll products carry a two-year warranty against manufacturing faults. "
        "Write to us with a photo of the fault and your order number; we repair or replace "
        "the product.",
    ),
    "hours": (
        "Opening hours",
        "# When we are available\n\nOur support team answers Monday to Friday, 9:00 to 18:00 "
        "CET. On public holidays in the Netherlands the shop and chat are closed.",
    ),
    "privacy": (
        "Your personal data",
        "# Privacy\n\nWe keep your address and order history for seven years, as tax law "
        "requires. Ask us to erase everything else and we do so within 30 days (GDPR).",
    ),
    "discounts": (
        "Discount codes",
        "# Discount codes\n\nEnter a discount code at checkout. One code per order; codes "
        "cannot be combined with sale prices.",
    ),
}

# (question, the article that answers it). The first half share words with their answer; the
# second half say it in other words.
QUERIES: tuple[tuple[str, str], ...] = (
    ("how long does a refund take", "refunds"),
    ("partial refund shipping fee", "refunds"),
    ("print a label and send items back", "returns"),
    ("standard shipping working days", "shipping"),
    ("do you ship to the United States", "international"),
    ("how much is the Pro plan", "pricing"),
    ("forgot password link", "password"),
    ("cancel subscription", "cancel"),
    ("download invoice PDF", "invoices"),
    ("two-year warranty", "warranty"),
    ("support hours Monday", "hours"),
    ("erase my data GDPR", "privacy"),
    ("combine discount code with sale", "discounts"),
    ("when do I get my money back", "refunds"),
    ("where is my parcel", "shipping"),
    ("what does it cost", "pricing"),
    ("I cannot log in, account locked", "password"),
    ("how do I stop paying", "cancel"),
    ("I need a receipt", "invoices"),
    ("my product arrived broken", "warranty"),
    ("are you open at the weekend", "hours"),
    ("coupon", "discounts"),
    ("reimbursement", "refunds"),
    ("courier", "shipping"),
)
