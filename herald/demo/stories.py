"""The stories ``hotfix demo`` tells, each a hotfix the playbook knows.

``p0`` (the default) walks the whole playbook; the others each show one thing that sets
Herald apart. Team members are Alice (coordinator), Bob (developer), Chloé (reviewer) and
Dan (devops). What Herald sends is never written here: it comes from the policies and the
templates when the story is played.
"""
from __future__ import annotations

from herald.demo.story import Burst, Minutes, Step, Story, Text

TEAM = {"coordinator": "Alice", "developer": "Bob", "reviewer": "Chloé", "devops": "Dan"}
DEPLOY_STAGING = Text("Deploy staging", "Deploy to staging")
DEPLOY_PRODUCTION = Text("Deploy production", "Deploy to production")
#: The post-mortem is held two days after the resolution (minute 44 of the P0).
TWO_DAYS = 2 * 24 * 60
POSTMORTEM_AT = 44 + TWO_DAYS

DECLARED = Text("Déclaration", "Declaration")
RESOLUTION = Text("Résolution", "Resolution")

P0 = Story("p0", Text("Un P0 de bout en bout", "A P0 from start to finish"),
           Text("Le paiement tombe : déclaration, triage, fix, review, staging, production, résolution, post-mortem.",
                "Checkout is down: declaration, triage, fix, review, staging, production, resolution, post-mortem."), (
    Step("declared", DECLARED, Text(
        "Le monitoring montre des erreurs 500 au paiement. Alice, coordinatrice, déclare un hotfix P0 : Herald envoie "
        "l'annonce à tous ceux que la politique P0 nomme, chacun dans sa langue, et lance l'horloge d'une heure.",
        "Monitoring shows 500 errors at checkout. Alice, the coordinator, declares a P0 hotfix: Herald sends the "
        "announcement to everyone the P0 policy names, each in their language, and starts the one-hour clock."),
        events=({"type": "declared", "severity": "P0", "source": "demo",
                 "title": Text("Le paiement renvoie des erreurs 500", "Checkout returns 500"),
                 "impact": Text("Aucune commande ne peut être payée", "No order can be paid"),
                 "users_affected": Text("tous les clients UE", "all EU customers"),
                 "team": {"coordinator": "Alice"}, "eta": Minutes(50)},)),
    Step("triage", Text("Triage", "Triage"), Text(
        "Triage : le problème est reproduit et l'équipe assignée (Bob développe, Chloé relit, Dan déploie) ; "
        "chacun est prévenu de son rôle, et la mise à jour part à tous.",
        "Triage: the problem is reproduced and the team assigned (Bob fixes, Chloé reviews, Dan deploys); "
        "each hears of their role, and the update goes out to all."), minute=6,
        events=({"type": "updated", "phase": "triage", "team": TEAM,
                 "message": Text("Reproduit : l'API de paiement expire aussitôt (timeout à 0)",
                                 "Reproduced: the payment API times out at once (timeout set to 0)"),
                 "next_step": Text("Créer la branche hotfix", "Create the hotfix branch")},)),
    Step("fix", Text("Fix", "Fix"), Text(
        "Bob crée la branche hotfix/{ticket}-timeout et écrit un fix minimal, sans refactoring.",
        "Bob creates the branch hotfix/{ticket}-timeout and writes a minimal fix, no refactoring."), minute=12,
        events=({"type": "updated", "phase": "fix", "checks": {"branch": True},
                 "message": Text("Branche hotfix/{ticket}-timeout créée", "Branch hotfix/{ticket}-timeout created"),
                 "next_step": Text("Fix minimal : remettre un timeout de 10 s", "Minimal fix: restore a 10 s timeout")},)),
    Step("review", Text("Review accélérée", "Accelerated review"), Text(
        "Le fix est prêt : PR #4242, tests au vert. Herald demande la review à Chloé : accélérée, jamais sautée.",
        "The fix is ready: PR #4242, tests green. Herald asks Chloé for the review: accelerated, never skipped."),
        minute=22,
        events=({"type": "updated", "phase": "review", "fix": {"pr": "#4242"}, "checks": {"tests": True},
                 "message": Text("Fix prêt, PR #4242 en review", "Fix ready, PR #4242 in review"),
                 "next_step": DEPLOY_STAGING},)),
    Step("staging", Text("Staging", "Staging"), Text(
        "Review approuvée, merge, déploiement en staging, smoke tests OK : la checklist de vérification du document "
        "se coche.",
        "Review approved, merged, deployed to staging, smoke tests pass: the document's verification checklist "
        "fills in."), minute=28,
        events=({"type": "updated", "phase": "staging",
                 "checks": {"review": True, "merged": True, "staging": True, "smoke_test": True},
                 "message": Text("Review OK, déployé en staging, smoke tests OK",
                                 "Review approved, deployed to staging, smoke tests pass"),
                 "next_step": DEPLOY_PRODUCTION},)),
    Step("production", Text("Production", "Production"), Text(
        "Dan déploie en production et le taux d'erreur retombe. Review et smoke test sont faits : aucun garde-fou "
        "ne se déclenche.",
        "Dan deploys to production and the error rate drops. Review and smoke test are done: no guardrail fires."),
        minute=34,
        events=({"type": "updated", "phase": "production", "checks": {"production": True},
                 "message": Text("Déployé en production, le taux d'erreur baisse",
                                 "Deployed to production, the error rate is dropping"),
                 "next_step": Text("Surveiller le monitoring 10 minutes", "Watch monitoring for 10 minutes")},)),
    Step("resolved", RESOLUTION, Text(
        "Problème confirmé résolu, monitoring normal : Alice clôt le hotfix. Herald envoie la résolution avec la durée, "
        "le fix, la root cause et la date du post-mortem.",
        "Confirmed fixed, monitoring normal: Alice closes the hotfix. Herald sends the resolution with the duration, "
        "the fix, the root cause and the post-mortem date."), minute=44,
        events=({"type": "resolved", "checks": {"confirmed": True, "monitoring": True},
                 "root_cause": Text("Un changement de configuration a mis à 0 le timeout du client de paiement",
                                    "A configuration change set the payment client's timeout to 0"),
                 "fix": {"commit": "a1b2c3d", "description": Text("Timeout de 10 s restauré et vérifié au démarrage",
                                                                  "10 s timeout restored and checked at start-up")},
                 "postmortem_at": Minutes(POSTMORTEM_AT)},)),
    Step("postmortem-reminder", Text("Rappel du post-mortem", "Post-mortem reminder"), Text(
        "Deux jours plus tard, avant le post-mortem, Herald le rappelle à l'équipe : root cause, pourquoi ce n'a pas "
        "été détecté avant, comment l'éviter, actions correctives.",
        "Two days later, before the post-mortem, Herald reminds the team: root cause, why it was not caught, how to "
        "avoid it, corrective actions."), timer="postmortem"),
    Step("postmortem", Text("Post-mortem", "Post-mortem"), Text(
        "Le post-mortem a lieu. Alice en poste les conclusions (root cause, pourquoi ce n'a pas été détecté avant, "
        "comment l'éviter) et les actions correctives, chacune avec un responsable et un ticket : Herald les envoie à "
        "l'équipe et aux parties prenantes, et le document de coordination se referme avec elles.",
        "The post-mortem is held. Alice posts its findings (root cause, why it was not caught, how to avoid it) and "
        "the corrective actions, each with an owner and a ticket: Herald sends them to the team and the stakeholders, "
        "and the coordination document closes with them."), minute=POSTMORTEM_AT + 60,
        events=({"type": "postmortem",
                 "summary": Text("Paiement indisponible 44 min : un changement de configuration a mis à 0 le timeout du "
                                 "client de paiement. Fix en production en 34 min, sans rollback.",
                                 "Checkout down for 44 min: a configuration change set the payment client's timeout to "
                                 "0. Fix in production in 34 min, no rollback."),
                 "root_cause_analysis": Text("La nouvelle version de la bibliothèque de configuration a changé le sens "
                                             "de 0 : « pas de limite » est devenu « expirer aussitôt ».",
                                             "The new version of the configuration library changed what 0 means: "
                                             "“no limit” became “expire at once”."),
                 "why_not_caught": Text("Les tests d'intégration utilisent un bouchon du client de paiement qui ignore "
                                        "le timeout, et le staging n'avait pas reçu la nouvelle configuration.",
                                        "Integration tests use a payment client stub that ignores the timeout, and "
                                        "staging had not received the new configuration."),
                 "prevention": Text("Valider la configuration au démarrage ; tout changement de configuration passe par "
                                    "le staging avant la production.",
                                    "Validate the configuration at start-up; every configuration change goes through "
                                    "staging before production."),
                 "actions": [
                     {"title": Text("Refuser un timeout nul au démarrage", "Refuse a zero timeout at start-up"),
                      "owner": "Bob", "ticket": "PAY-311"},
                     {"title": Text("Déployer la configuration en staging avant la production",
                                    "Deploy configuration to staging before production"), "owner": "Dan",
                      "ticket": "OPS-87"},
                     {"title": Text("Test de bout en bout du paiement avec le vrai client",
                                    "End-to-end checkout test with the real client"), "owner": "Chloé",
                      "ticket": "QA-42"}],
                 "follow_up": "PAY-310"},)),
))

ROLLBACK = Story("rollback", Text("Le rollback", "The rollback"),
                 Text("Le fix casse autre chose : rollback, service rétabli, nouvelle approche, résolution.",
                      "The fix breaks something else: rollback, service restored, a new approach, resolution."), (
    Step("declared", DECLARED, Text(
        "Le checkout refuse les paniers avec un code promo. Alice déclare un P1.",
        "Checkout rejects baskets with a promo code. Alice declares a P1."),
        events=({"type": "declared", "severity": "P1", "source": "demo", "team": TEAM, "eta": Minutes(60),
                 "title": Text("Checkout bloqué avec un code promo", "Checkout blocked with a promo code"),
                 "impact": Text("Les commandes avec un code promo ne passent plus",
                                "Orders with a promo code cannot be placed"),
                 "users_affected": Text("environ 15 % des commandes", "about 15% of orders")},)),
    Step("review", Text("Fix et review", "Fix and review"), Text(
        "Bob corrige le calcul des remises (PR #5120) ; Chloé fait la review.",
        "Bob fixes the discount computation (PR #5120); Chloé reviews it."), minute=8,
        events=({"type": "updated", "phase": "review", "fix": {"pr": "#5120"}, "checks": {"tests": True},
                 "message": Text("Fix du calcul des remises prêt, PR #5120 en review",
                                 "Discount computation fixed, PR #5120 in review"),
                 "next_step": DEPLOY_STAGING},)),
    Step("staging", Text("Staging", "Staging"), Text(
        "Review OK, déployé en staging, smoke tests OK.", "Review approved, deployed to staging, smoke tests pass."),
        minute=14,
        events=({"type": "updated", "phase": "staging", "checks": {"review": True, "staging": True, "smoke_test": True},
                 "message": Text("Review OK, staging et smoke tests OK", "Review approved, staging and smoke tests pass"),
                 "next_step": DEPLOY_PRODUCTION},)),
    Step("production", Text("Production", "Production"), Text(
        "Dan déploie en production : les commandes avec code promo passent à nouveau.",
        "Dan deploys to production: orders with a promo code go through again."), minute=18,
        events=({"type": "updated", "phase": "production", "checks": {"production": True},
                 "message": Text("Déployé en production", "Deployed to production"),
                 "next_step": Text("Surveiller les paiements", "Watch payments")},)),
    Step("rollback", Text("Nouveau bug : rollback", "New bug: rollback"), Text(
        "Le fix casse les remboursements. « Fix génère nouveau bug → rollback + nouvelle approche » : l'équipe annule "
        "le déploiement, le service d'avant est rétabli, et le hotfix reste ouvert, de retour en fix. Herald envoie "
        "l'avis de rollback à tous ceux qui ont reçu l'annonce.",
        "The fix breaks refunds. “Fix causes a new bug → rollback + new approach”: the team rolls the deploy back, "
        "the previous service is restored, and the hotfix stays open, back in fix. Herald sends the rollback notice "
        "to everyone who heard the announcement."), minute=24,
        events=({"type": "rolled_back", "service_restored": True,
                 "reason": Text("Les remboursements échouent depuis le déploiement",
                                "Refunds fail since the deploy"),
                 "next_approach": Text("Corriger la remise derrière un feature flag, sans toucher aux remboursements",
                                       "Fix the discount behind a feature flag, leaving refunds alone")},)),
    Step("new-approach", Text("Nouvelle approche", "New approach"), Text(
        "Bob reprend avec la nouvelle approche : la correction isolée derrière un feature flag (PR #5127). Le "
        "document garde la tentative annulée.",
        "Bob starts over with the new approach: the fix isolated behind a feature flag (PR #5127). The document "
        "keeps the undone attempt."), minute=34,
        events=({"type": "updated", "phase": "review", "fix": {"pr": "#5127"}, "checks": {"tests": True},
                 "message": Text("Nouvelle approche : correction derrière un feature flag, PR #5127 en review",
                                 "New approach: the fix behind a feature flag, PR #5127 in review"),
                 "next_step": DEPLOY_STAGING},)),
    Step("redeploy", Text("Staging puis production", "Staging, then production"), Text(
        "Review OK, staging et smoke tests OK, remboursements testés cette fois ; Dan redéploie en production.",
        "Review approved, staging and smoke tests pass, refunds tested this time; Dan deploys to production again."),
        minute=44,
        events=({"type": "updated", "phase": "production",
                 "checks": {"review": True, "staging": True, "smoke_test": True, "production": True},
                 "message": Text("Redéployé en production, remboursements vérifiés",
                                 "Deployed to production again, refunds checked"),
                 "next_step": Text("Confirmer avec le support", "Confirm with support")},)),
    Step("resolved", RESOLUTION, Text(
        "Codes promo et remboursements fonctionnent : Alice clôt le hotfix, avec un rollback dans son histoire.",
        "Promo codes and refunds both work: Alice closes the hotfix, with one rollback in its story."), minute=52,
        events=({"type": "resolved", "checks": {"confirmed": True, "monitoring": True},
                 "root_cause": Text("Le calcul des remises ignorait les codes promo cumulés",
                                    "The discount computation ignored stacked promo codes"),
                 "fix": {"pr": "#5127", "description": Text("Correction derrière un feature flag",
                                                            "Fix behind a feature flag")}},)),
))

SILENCE = Story("silence", Text("Silence radio", "Radio silence"),
                Text("Personne ne poste de mise à jour : rappel au coordinateur, escalade, échéance menacée puis dépassée.",
                     "Nobody posts an update: a reminder to the coordinator, an escalation, the deadline at risk, "
                     "then breached."), (
    Step("declared", DECLARED, Text(
        "Les paiements par carte sont refusés. Alice déclare un P0, l'annonce part… puis plus personne ne poste "
        "de mise à jour.",
        "Card payments are declined. Alice declares a P0, the announcement goes out… then nobody posts an update."),
        events=({"type": "declared", "severity": "P0", "source": "demo",
                 "title": Text("Paiements par carte refusés", "Card payments declined"),
                 "impact": Text("Aucun paiement par carte n'aboutit", "No card payment goes through"),
                 "users_affected": Text("tous les clients", "all customers"),
                 "team": {"coordinator": "Alice", "developer": "Bob"}, "eta": Minutes(45)},)),
    Step("reminder", Text("Rappel", "Reminder"), Text(
        "Aucune mise à jour depuis la déclaration, la cadence P0 est dépassée : Herald rappelle à l'astreinte, et à "
        "Alice en personne, qu'une mise à jour est due.",
        "No update since the declaration, the P0 cadence is overdue: Herald reminds on-call, and Alice in person, "
        "that an update is due."), timer="reminder"),
    Step("unanswered", Text("Personne ne répond", "Nobody answers"), Text(
        "Toujours rien une période plus tard : « personne disponible », Herald escalade au management.",
        "Still nothing one period later: “nobody available”, Herald escalates to management."), timer="unanswered"),
    Step("at-risk", Text("Échéance menacée", "Deadline at risk"), Text(
        "L'échéance d'une heure approche sans fix en vue : Herald escalade à nouveau, avec le temps restant.",
        "The one-hour deadline is near with no fix in sight: Herald escalates again, with the time left."),
        timer="at_risk"),
    Step("breached", Text("Échéance dépassée", "Deadline breached"), Text(
        "L'échéance est dépassée : dernière escalade, et pour un P0 Herald propose le rollback (« P0 sans fix "
        "possible rapide → rollback »).",
        "The deadline has passed: a last escalation, and for a P0 Herald proposes a rollback (“P0 with no quick fix "
        "→ rollback”)."), timer="breached"),
))

SHORTCUT = Story("shortcut", Text("Le raccourci", "The shortcut"),
                 Text("Mise en production sans review : Herald rappelle la règle d'or (garde-fou).",
                      "Production without a review: Herald flags the broken golden rule (guardrail)."), (
    Step("declared", DECLARED, Text(
        "La connexion SSO échoue pour tout le monde : Alice déclare un P1, à résoudre en 4 heures.",
        "SSO login fails for everyone: Alice declares a P1, to be resolved within 4 hours."),
        events=({"type": "declared", "severity": "P1", "source": "demo", "team": TEAM, "eta": Minutes(40),
                 "title": Text("Connexion impossible pour tous", "Login impossible for everyone"),
                 "impact": Text("Personne ne peut se connecter via le SSO", "Nobody can log in through SSO"),
                 "users_affected": Text("tous les utilisateurs", "all users")},)),
    Step("fix", Text("Fix", "Fix"), Text(
        "Bob trouve la cause : un certificat SSO expiré dans la configuration. Le fix tient en une ligne.",
        "Bob finds the cause: an expired SSO certificate in the configuration. The fix is one line."), minute=8,
        events=({"type": "updated", "phase": "fix",
                 "message": Text("Cause trouvée : certificat SSO expiré ; fix d'une ligne prêt",
                                 "Cause found: expired SSO certificate; one-line fix ready"),
                 "next_step": DEPLOY_STAGING},)),
    Step("staging", Text("Staging, sans review", "Staging, no review"), Text(
        "Déployé en staging, smoke tests OK. « Une ligne, pas besoin de review » : personne n'en enregistre.",
        "Deployed to staging, smoke tests pass. “One line, no need for a review”: nobody records one."), minute=14,
        events=({"type": "updated", "phase": "staging", "checks": {"staging": True, "smoke_test": True},
                 "message": Text("Déployé en staging, smoke tests OK", "Deployed to staging, smoke tests pass"),
                 "next_step": DEPLOY_PRODUCTION},)),
    Step("production", Text("Production sans review", "Production without review"), Text(
        "Dan déploie en production sans review. Herald envoie un garde-fou à tous ceux qui ont reçu l'annonce : "
        "« skipper la review (même accélérée) » fait partie des DON'T du playbook.",
        "Dan deploys to production without a review. Herald sends a guardrail warning to everyone who heard the "
        "announcement: “skipping the review (even an accelerated one)” is one of the playbook's DON'Ts."), minute=17,
        events=({"type": "updated", "phase": "production", "checks": {"production": True},
                 "message": Text("Déployé en production", "Deployed to production"),
                 "next_step": Text("Confirmer la résolution", "Confirm the fix")},)),
    Step("late-review", Text("Review après coup", "Review after the fact"), Text(
        "Alertée par le garde-fou, Chloé fait la review après coup : le fix est correct, le document le note.",
        "Alerted by the guardrail, Chloé reviews after the fact: the fix is sound, and the document records it."),
        minute=25,
        events=({"type": "updated", "checks": {"review": True},
                 "message": Text("Review faite après coup par Chloé : fix correct",
                                 "Review done after the fact by Chloé: the fix is sound")},)),
    Step("resolved", RESOLUTION, Text(
        "La connexion fonctionne à nouveau, le support confirme : le hotfix est résolu.",
        "Login works again, support confirms: the hotfix is resolved."), minute=30,
        events=({"type": "resolved", "checks": {"confirmed": True, "monitoring": True},
                 "root_cause": Text("Certificat SSO expiré, sans alerte d'expiration",
                                    "Expired SSO certificate, with no expiry alert"),
                 "fix": {"pr": "#977", "description": Text("Certificat renouvelé", "Certificate renewed")}},)),
))

STORM = Story("storm", Text("La tempête d'alertes", "The alert storm"),
              Text("Alertmanager envoie des dizaines de webhooks : Herald en fait un seul hotfix, annoncé une fois.",
                   "Alertmanager sends dozens of webhooks: Herald makes one hotfix of them, announced once."), (
    Step("alerts", Text("Premières alertes", "First alerts"), Text(
        "Le taux d'erreur du paiement explose sur 3 instances. Les deux réplicas d'Alertmanager envoient chacun le "
        "groupe d'alertes : l'intake n'en fait qu'un hotfix P0, annoncé une seule fois.",
        "The checkout error rate spikes on 3 instances. Both Alertmanager replicas send the alert group: the intake "
        "makes one P0 hotfix of it, announced once."), alerts=(Burst(instances=3, copies=2),)),
    Step("re-sends", Text("Renvois", "Re-sends"), Text(
        "Les réplicas renvoient le même groupe encore et encore : ce sont des renvois, rien n'est poussé ni envoyé.",
        "The replicas send the same group again and again: re-sends, nothing is pushed or sent."), minute=3,
        alerts=(Burst(instances=3, copies=20),)),
    Step("spreads", Text("La tempête s'étend", "The storm spreads"), Text(
        "8 instances sont maintenant en erreur : le groupe a changé, une seule mise à jour le dit, quel que soit le "
        "nombre de webhooks.",
        "8 instances are failing now: the group changed, and one update says so, however many webhooks came."),
        minute=6, alerts=(Burst(instances=8, copies=10),)),
    Step("takeover", Text("Alice prend la main", "Alice takes over"), Text(
        "Alice prend la coordination : l'équipe annule la configuration du load balancer déployée ce matin.",
        "Alice takes over: the team reverts this morning's load balancer configuration."), minute=9,
        events=({"type": "updated", "phase": "fix", "team": {"coordinator": "Alice", "developer": "Bob", "devops": "Dan"},
                 "message": Text("Cause probable : la config du load balancer de ce matin ; retour arrière en cours",
                                 "Likely cause: this morning's load balancer config; reverting it"),
                 "next_step": Text("Vérifier le taux d'erreur", "Check the error rate")},)),
    Step("recovery", Text("Rétablissement", "Recovery"), Text(
        "Les alertes retombent et Alertmanager envoie « resolved ». Herald le dit dans une mise à jour sans clore : "
        "confirmer, c'est le rôle de la coordinatrice.",
        "The alerts clear and Alertmanager sends “resolved”. Herald says so in an update without closing: "
        "confirming is the coordinator's call."), minute=16, alerts=(Burst(instances=8, copies=4, status="resolved"),)),
    Step("resolved", RESOLUTION, Text(
        "Le retour arrière, relu et passé en smoke test, tient : Alice clôt. Un seul hotfix, une annonce, quelques "
        "mises à jour — pour des dizaines de webhooks.",
        "The revert, reviewed and smoke-tested, holds: Alice closes. One hotfix, one announcement, a few updates — "
        "for dozens of webhooks."), minute=20,
        events=({"type": "resolved", "checks": {"review": True, "smoke_test": True, "production": True,
                                                "confirmed": True, "monitoring": True},
                 "root_cause": Text("Config du load balancer : health checks désactivés par erreur",
                                    "Load balancer config: health checks disabled by mistake"),
                 "fix": {"description": Text("Configuration précédente restaurée", "Previous configuration restored")}},)),
))

#: Every story by name, in the order ``--list`` shows them.
STORIES: dict[str, Story] = {s.name: s for s in (P0, ROLLBACK, SILENCE, SHORTCUT, STORM)}
DEFAULT_STORY = P0.name
