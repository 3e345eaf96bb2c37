"""`summary.html` of a data-subject export: the same data in readable form, in Finnish or
Swedish or English, as the DPO chose for this export (not the console's language: the
document is for the data subject). Its texts are here rather than in the catalogs because it is
rendered without the Flask app, since the export job renders it too."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import jinja2

from cs_register.clock import local_time
from cs_register.customers.rectification import FIELD_LABELS

_SUMMARY_TEXT = {
    "fi": {
        "title": "Sinusta tallennetut tiedot",
        "intro": "Tämä on yhteenveto asiakaspalvelumme rekisteriin sinusta tallennetuista"
        " tiedoista. Kaikki tiedot koneluettavassa muodossa ovat tiedostossa data.json.",
        "customer": "Asiakastiedot",
        "records": "Tallennetut tiedot",
        "recordings": "Puhelutallenteet",
        "access_log": "Kuka on katsonut tietojasi",
        "none": "Ei tietoja.",
        "when": "Aika",
        "who": "Kuka",
        "what": "Mitä",
    },
    "sv": {
        "title": "Uppgifter som sparats om dig",
        "intro": "Detta är en sammanfattning av de uppgifter om dig som finns i vår kundtjänsts"
        " register. Alla uppgifter i maskinläsbar form finns i filen data.json.",
        "customer": "Kunduppgifter",
        "records": "Sparade uppgifter",
        "recordings": "Samtalsinspelningar",
        "access_log": "Vem har tittat på dina uppgifter",
        "none": "Inga uppgifter.",
        "when": "Tid",
        "who": "Vem",
        "what": "Vad",
    },
    "en": {
        "title": "The data held about you",
        "intro": "This is a summary of the data our customer service register holds about"
        " you. All of it, in machine-readable form, is in the file data.json.",
        "customer": "Customer record",
        "records": "Records held",
        "recordings": "Call recordings",
        "access_log": "Who has looked at your data",
        "none": "None.",
        "when": "When",
        "who": "Who",
        "what": "What",
    },
}
_CUSTOMER_LABELS = {
    "fi": {
        "given_names": "Etunimet",
        "family_name": "Sukunimi",
        "identity_code": "Henkilötunnus",
        "street_address": "Katuosoite",
        "postal_code": "Postinumero",
        "city": "Postitoimipaikka",
        "country": "Maa",
        "phone": "Puhelin",
        "email": "Sähköposti",
    },
    "sv": {
        "given_names": "Förnamn",
        "family_name": "Efternamn",
        "identity_code": "Personbeteckning",
        "street_address": "Gatuadress",
        "postal_code": "Postnummer",
        "city": "Postanstalt",
        "country": "Land",
        "phone": "Telefon",
        "email": "E-post",
    },
    "en": FIELD_LABELS,
}
_environment = jinja2.Environment(
    loader=jinja2.PackageLoader("cs_register.privacy", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)


def render_summary(data: dict[str, Any], language: str) -> str:
    """`summary.html`: the export in readable form, without the app (jobs render it too)."""
    customer = data["customer"] or {}
    labels = _CUSTOMER_LABELS[language]
    return _environment.get_template("privacy/export_summary.html").render(
        text=_SUMMARY_TEXT[language],
        language=language,
        customer=[(labels[key], customer.get(key)) for key in labels if customer.get(key)],
        records=data["records"],
        recordings=data["recordings"],
        access_log=data["access_log"],
        local_time=lambda value: local_time(datetime.fromisoformat(value)) if value else "",
    )
