"""Free-mail domains: an address here is a person, not a company (scoring, DESIGN §1).

The list covers the large consumer providers worldwide; a domain absent from it counts
as a business domain.
"""

FREE_MAIL_DOMAINS: frozenset[str] = frozenset(
    """
    aol.com aim.com gmail.com googlemail.com hotmail.com hotmail.co.uk hotmail.fr hotmail.de
    hotmail.es hotmail.it live.com live.co.uk live.fr live.de live.com.mx msn.com outlook.com
    outlook.es outlook.fr outlook.de passport.com windowslive.com yahoo.com yahoo.co.uk
    yahoo.fr yahoo.de yahoo.es yahoo.it yahoo.co.jp yahoo.com.br yahoo.com.mx yahoo.ca
    yahoo.co.in ymail.com rocketmail.com icloud.com me.com mac.com protonmail.com proton.me
    pm.me tutanota.com tuta.io gmx.com gmx.de gmx.net gmx.at gmx.ch web.de t-online.de
    freenet.de mail.com email.com usa.com zoho.com zohomail.com yandex.com yandex.ru ya.ru
    mail.ru inbox.ru list.ru bk.ru rambler.ru qq.com 163.com 126.com yeah.net sina.com
    sohu.com aliyun.com naver.com daum.net hanmail.net rediffmail.com laposte.net orange.fr
    wanadoo.fr free.fr sfr.fr libero.it virgilio.it tiscali.it alice.it terra.com.br
    bol.com.br uol.com.br ig.com.br seznam.cz wp.pl o2.pl onet.pl interia.pl btinternet.com
    sky.com virginmedia.com ntlworld.com talktalk.net comcast.net verizon.net att.net
    sbcglobal.net bellsouth.net charter.net cox.net earthlink.net juno.com optonline.net
    shaw.ca rogers.com sympatico.ca bigpond.com optusnet.com.au hushmail.com fastmail.com
    fastmail.fm mailbox.org posteo.de disroot.org duck.com hey.com
    """.split()
)


def email_domain(email: str) -> str:
    return email.rpartition("@")[2].strip().lower()


def is_free_mail(email: str) -> bool:
    return email_domain(email) in FREE_MAIL_DOMAINS
