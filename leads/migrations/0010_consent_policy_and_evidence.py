"""Consent as Partner Center grants it (issue 11): a listing's consent policy, off for
every existing listing; the evidence rows; and the listing an enrolment's consent came from.
"""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("leads", "0009_suppression_hmac"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="enrollment",
            name="consent_listing",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to="leads.listing",
                verbose_name="enrolled by the consent policy of",
            ),
        ),
        migrations.AddField(
            model_name="listing",
            name="consent_strict_countries",
            field=models.CharField(
                blank=True,
                default="",
                help_text="Leads from these countries get no nurture email without an explicit MarketingConsent flag; once the list has a country, so do leads whose country is unknown. ISO alpha-2 codes separated by commas (DE, FR); type EEA for the 30 countries of the European Economic Area, or EU for the 27 member states.",
                max_length=800,
                verbose_name="stricter regions",
            ),
        ),
        migrations.AddField(
            model_name="listing",
            name="nurture_on_offer_consent",
            field=models.BooleanField(
                default=False,
                help_text="Partner Center sends no consent flag. Before a lead reaches you, the customer clicked the offer's call to action and agreed to this (Get it now, as Microsoft documents it): “I give Microsoft permission to use or share my account information so that the provider or Microsoft can contact me regarding this product and related products…” For Contact me, Microsoft says the customer consents to sharing their information. Tick this if your own privacy terms let you send such a customer this listing's nurture emails without an explicit MarketingConsent flag. An explicit refusal always wins.",
                verbose_name="nurture leads who agreed to be contacted about this offer",
            ),
        ),
        migrations.CreateModel(
            name="ConsentRecord",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("is_granted", models.BooleanField(verbose_name="granted")),
                (
                    "basis",
                    models.CharField(
                        choices=[
                            ("explicit", "Explicit MarketingConsent flag"),
                            ("listing-policy", "The listing's consent policy"),
                            ("import", "Imported file"),
                            ("unsubscribe", "Withdrawn by unsubscribe"),
                            ("staff", "Set by staff"),
                        ],
                        max_length=16,
                        verbose_name="basis",
                    ),
                ),
                (
                    "reason",
                    models.CharField(
                        choices=[
                            ("flag-true", "MarketingConsent was true."),
                            ("flag-false", "MarketingConsent was false."),
                            ("consented-earlier", "No flag; the lead's earlier consent stands."),
                            (
                                "refused-earlier",
                                "No flag; the lead's earlier refusal stands, whatever the listing's policy.",
                            ),
                            (
                                "policy-on",
                                "No flag; the listing's policy lets a customer who agreed to be contacted about this offer receive its nurture emails.",
                            ),
                            ("policy-off", "No flag, and the listing's policy is off."),
                            (
                                "stricter-region",
                                "No flag, and the lead's country is one of the listing's stricter regions.",
                            ),
                            (
                                "unknown-country",
                                "No flag, the listing has stricter regions and the lead's country is unknown.",
                            ),
                            (
                                "do-not-contact",
                                "No flag, and the action was DNC: this customer is not to be contacted.",
                            ),
                            (
                                "unsubscribed",
                                "The reader unsubscribed from the publisher's emails.",
                            ),
                            ("staff-granted", "Staff recorded the lead's consent."),
                            ("staff-refused", "Staff recorded that the lead refused."),
                        ],
                        max_length=20,
                        verbose_name="why",
                    ),
                ),
                (
                    "policy",
                    models.JSONField(blank=True, default=dict, verbose_name="policy as it was"),
                ),
                (
                    "recorded_at",
                    models.DateTimeField(
                        default=django.utils.timezone.now, verbose_name="recorded"
                    ),
                ),
                (
                    "activity",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="consent_records",
                        to="leads.leadactivity",
                        verbose_name="activity",
                    ),
                ),
                (
                    "lead",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="consent_records",
                        to="leads.lead",
                        verbose_name="lead",
                    ),
                ),
                (
                    "listing",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to="leads.listing",
                        verbose_name="listing",
                    ),
                ),
                (
                    "recorded_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                        verbose_name="recorded by",
                    ),
                ),
            ],
            options={
                "verbose_name": "consent record",
                "verbose_name_plural": "consent records",
                "ordering": ["-recorded_at", "-id"],
                "indexes": [
                    models.Index(
                        fields=["lead", "-recorded_at", "-id"], name="consentrecord_lead_time"
                    )
                ],
                "constraints": [
                    models.CheckConstraint(
                        condition=models.Q(
                            (
                                "basis__in",
                                ["explicit", "listing-policy", "import", "unsubscribe", "staff"],
                            )
                        ),
                        name="consentrecord_basis_valid",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(
                            (
                                "reason__in",
                                [
                                    "flag-true",
                                    "flag-false",
                                    "consented-earlier",
                                    "refused-earlier",
                                    "policy-on",
                                    "policy-off",
                                    "stricter-region",
                                    "unknown-country",
                                    "do-not-contact",
                                    "unsubscribed",
                                    "staff-granted",
                                    "staff-refused",
                                ],
                            )
                        ),
                        name="consentrecord_reason_valid",
                    ),
                ],
            },
        ),
    ]
