"""The default email backend for development and the demo: emails go to the log.

One INFO line per message (recipients and subject) shows that an email went out; the body
is logged at DEBUG only, so a log kept at INFO or WARNING never holds what the email said
(comments quoted in a mention, invoice numbers of an overdue digest). Production sets
``EMAIL_BACKEND`` to an SMTP backend."""

import logging

from django.core.mail.backends.base import BaseEmailBackend

logger = logging.getLogger("controlplane.mail")


class LogEmailBackend(BaseEmailBackend):
    def send_messages(self, email_messages):
        for message in email_messages:
            logger.info("email to %s: %s", ", ".join(message.recipients()), message.subject)
            logger.debug("email body to %s:\n%s", ", ".join(message.recipients()), message.body)
        return len(email_messages)
