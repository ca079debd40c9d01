//! Every word the tracking page shows, per language: one table per language
//! with the same keys (a test holds them equal), placeholders written `{n}`.
//! Templates read the table as `t`; Rust code fills placeholders with
//! [`fill`]. Pure.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use super::lang::Lang;

type Table = &'static [(&'static str, &'static str)];

const EN: Table = &[
    ("skip_to_content", "Skip to content"),
    ("lookup_title", "Track your order"),
    (
        "lookup_intro",
        "Enter your order number and the email address or postal code you ordered with.",
    ),
    ("order_number", "Order number"),
    ("second_factor", "Confirm it is your order with one of these"),
    ("email", "Email address"),
    ("postal_code", "Postal code"),
    ("lookup_submit", "Track order"),
    ("number_title", "Track a parcel by its tracking number"),
    (
        "number_intro",
        "Shows the carrier's progress for the parcel only, without order details.",
    ),
    ("tracking_number", "Tracking number"),
    ("number_submit", "Track parcel"),
    ("language", "Language"),
    ("not_found_title", "We could not find that order"),
    (
        "not_found_body",
        "Check the order number and the email address or postal code, or open the link from your shipping message again: links stop working after a while.",
    ),
    ("try_again", "Try again"),
    ("rate_limited_title", "Too many attempts"),
    ("rate_limited_body", "Please wait a few minutes, then try again."),
    ("order", "Order"),
    ("from_sender", "From"),
    ("status_heading", "Where your order is"),
    ("delivered_one", "{n} of {total} parcel delivered"),
    ("delivered_other", "{n} of {total} parcels delivered"),
    ("shipment_of", "Shipment {i} of {count}"),
    ("parcel_n", "Parcel {i}"),
    ("carrier", "Carrier"),
    ("progress", "Progress"),
    (
        "no_progress_yet",
        "No updates yet. We will show each step here as soon as it happens.",
    ),
    ("expected", "Expected delivery"),
    ("originally_expected", "Originally expected"),
    (
        "estimate_unknown",
        "We don't know the delivery date yet. We will show it here as soon as the carrier tells us.",
    ),
    (
        "delayed_estimate_after_promise",
        "Delayed: the carrier now expects to deliver later than first promised.",
    ),
    (
        "delayed_estimate_passed",
        "Delayed: the expected delivery date has passed and the parcel has not arrived yet.",
    ),
    (
        "delayed_promise_passed",
        "Delayed: the promised delivery date has passed and the parcel has not arrived yet.",
    ),
    ("delayed_other", "Delayed."),
    ("exception", "There is a problem with this parcel: {reason}."),
    ("reason_customs_delay", "it is held at customs"),
    ("reason_address_problem", "there is a problem with the delivery address"),
    ("reason_refused", "delivery was refused"),
    ("reason_damaged", "it was damaged in transit"),
    ("reason_weather_delay", "bad weather is holding it up"),
    ("reason_lost", "the carrier cannot locate it"),
    ("reason_other", "the carrier reported an issue"),
    ("party_carrier", "The carrier is working on it."),
    ("party_merchant", "{brand} is working on it."),
    (
        "party_customer",
        "The carrier needs something from you: please contact them or our support.",
    ),
    (
        "party_customs",
        "Customs are checking it; this usually takes a few days.",
    ),
    ("party_weather", "It will move on once the weather allows."),
    ("party_site", "{brand} is working on it."),
    (
        "not_picked_up",
        "Waiting for the carrier: the parcel left our warehouse but the carrier has not scanned it yet.",
    ),
    (
        "attempt_guidance",
        "The carrier tried to deliver but could not. They usually try again on the next working day or leave a note saying where to collect the parcel.",
    ),
    ("pickup_at", "Ready to collect at"),
    (
        "pickup_guidance",
        "Bring your order number or tracking number and an ID.",
    ),
    ("proof_of_delivery", "Proof of delivery"),
    ("delivered_on", "Delivered"),
    ("returns_heading", "Returns"),
    (
        "returns_body",
        "Soon you will be able to start a return right here. Until then, please contact our support.",
    ),
    ("support_heading", "Need help?"),
    ("support_link", "Contact support"),
    ("support_email", "Email"),
    ("shipment_cancelled", "This shipment was cancelled."),
    ("carrier_progress", "Carrier progress"),
    (
        "number_privacy",
        "For your privacy this page shows the parcel's progress only. Use your order number to see the whole order.",
    ),
    ("status_order_received", "Order received"),
    ("status_preparing", "Preparing your order"),
    ("status_handed_to_carrier", "Handed to carrier"),
    ("status_in_transit", "In transit"),
    ("status_out_for_delivery", "Out for delivery"),
    ("status_delivery_attempted", "Delivery attempted"),
    ("status_ready_for_pickup", "Ready for pickup"),
    ("status_delivered", "Delivered"),
    ("status_returning_to_sender", "Returning to sender"),
    ("status_return_started", "Return started"),
    ("status_return_declined", "Return declined"),
    ("status_return_received", "Return received"),
    ("status_refunded", "Refunded"),
    ("status_replacement_sent", "Replacement sent"),
    ("status_cancelled", "Cancelled"),
    ("milestone_ordered", "Order received"),
    ("milestone_picked", "Items picked"),
    ("milestone_packed", "Packed"),
    ("milestone_staged", "Ready to ship"),
    ("milestone_loaded", "Handed to carrier"),
    ("milestone_label_created", "Shipping label created"),
    ("milestone_carrier_accepted", "Picked up by the carrier"),
    ("milestone_in_transit", "In transit"),
    ("milestone_out_for_delivery", "Out for delivery"),
    ("milestone_delivery_attempted", "Delivery attempted"),
    ("milestone_available_for_pickup", "Ready for pickup"),
    ("milestone_delivered", "Delivered"),
    ("milestone_returned_to_sender", "Returning to sender"),
    ("milestone_other", "Update"),
];

const DE: Table = &[
    ("skip_to_content", "Zum Inhalt springen"),
    ("lookup_title", "Bestellung verfolgen"),
    (
        "lookup_intro",
        "Geben Sie Ihre Bestellnummer und die E-Mail-Adresse oder Postleitzahl Ihrer Bestellung ein.",
    ),
    ("order_number", "Bestellnummer"),
    (
        "second_factor",
        "Bestätigen Sie mit einer dieser Angaben, dass es Ihre Bestellung ist",
    ),
    ("email", "E-Mail-Adresse"),
    ("postal_code", "Postleitzahl"),
    ("lookup_submit", "Bestellung verfolgen"),
    ("number_title", "Paket mit der Sendungsnummer verfolgen"),
    (
        "number_intro",
        "Zeigt nur den Fortschritt beim Versanddienst, ohne Bestelldaten.",
    ),
    ("tracking_number", "Sendungsnummer"),
    ("number_submit", "Paket verfolgen"),
    ("language", "Sprache"),
    ("not_found_title", "Wir konnten diese Bestellung nicht finden"),
    (
        "not_found_body",
        "Prüfen Sie die Bestellnummer und die E-Mail-Adresse oder Postleitzahl, oder öffnen Sie den Link aus Ihrer Versandnachricht erneut: Links sind nur eine Zeit lang gültig.",
    ),
    ("try_again", "Erneut versuchen"),
    ("rate_limited_title", "Zu viele Versuche"),
    (
        "rate_limited_body",
        "Bitte warten Sie einige Minuten und versuchen Sie es dann erneut.",
    ),
    ("order", "Bestellung"),
    ("from_sender", "Von"),
    ("status_heading", "Wo Ihre Bestellung ist"),
    ("delivered_one", "{n} von {total} Paket zugestellt"),
    ("delivered_other", "{n} von {total} Paketen zugestellt"),
    ("shipment_of", "Sendung {i} von {count}"),
    ("parcel_n", "Paket {i}"),
    ("carrier", "Versanddienst"),
    ("progress", "Verlauf"),
    (
        "no_progress_yet",
        "Noch keine Neuigkeiten. Wir zeigen hier jeden Schritt, sobald er passiert.",
    ),
    ("expected", "Voraussichtliche Zustellung"),
    ("originally_expected", "Ursprünglich erwartet"),
    (
        "estimate_unknown",
        "Wir kennen das Zustelldatum noch nicht. Wir zeigen es hier, sobald der Versanddienst es uns mitteilt.",
    ),
    (
        "delayed_estimate_after_promise",
        "Verspätet: Der Versanddienst erwartet die Zustellung nun später als zuerst zugesagt.",
    ),
    (
        "delayed_estimate_passed",
        "Verspätet: Das erwartete Zustelldatum ist vorbei und das Paket ist noch nicht angekommen.",
    ),
    (
        "delayed_promise_passed",
        "Verspätet: Das zugesagte Zustelldatum ist vorbei und das Paket ist noch nicht angekommen.",
    ),
    ("delayed_other", "Verspätet."),
    ("exception", "Es gibt ein Problem mit diesem Paket: {reason}."),
    ("reason_customs_delay", "es wird beim Zoll aufgehalten"),
    ("reason_address_problem", "es gibt ein Problem mit der Lieferadresse"),
    ("reason_refused", "die Annahme wurde verweigert"),
    ("reason_damaged", "es wurde beim Transport beschädigt"),
    ("reason_weather_delay", "schlechtes Wetter hält es auf"),
    ("reason_lost", "der Versanddienst kann es nicht finden"),
    ("reason_other", "der Versanddienst hat ein Problem gemeldet"),
    ("party_carrier", "Der Versanddienst kümmert sich darum."),
    ("party_merchant", "{brand} kümmert sich darum."),
    (
        "party_customer",
        "Der Versanddienst braucht etwas von Ihnen: Bitte wenden Sie sich an ihn oder an unseren Kundenservice.",
    ),
    ("party_customs", "Der Zoll prüft es; das dauert meist einige Tage."),
    ("party_weather", "Es geht weiter, sobald das Wetter es zulässt."),
    ("party_site", "{brand} kümmert sich darum."),
    (
        "not_picked_up",
        "Warten auf den Versanddienst: Das Paket hat unser Lager verlassen, wurde vom Versanddienst aber noch nicht gescannt.",
    ),
    (
        "attempt_guidance",
        "Der Versanddienst konnte nicht zustellen. Meist versucht er es am nächsten Werktag erneut oder hinterlässt eine Nachricht, wo Sie das Paket abholen können.",
    ),
    ("pickup_at", "Abholbereit bei"),
    (
        "pickup_guidance",
        "Bringen Sie Ihre Bestell- oder Sendungsnummer und einen Ausweis mit.",
    ),
    ("proof_of_delivery", "Zustellnachweis"),
    ("delivered_on", "Zugestellt"),
    ("returns_heading", "Rücksendungen"),
    (
        "returns_body",
        "Bald können Sie hier direkt eine Rücksendung starten. Bis dahin wenden Sie sich bitte an unseren Kundenservice.",
    ),
    ("support_heading", "Brauchen Sie Hilfe?"),
    ("support_link", "Kundenservice kontaktieren"),
    ("support_email", "E-Mail"),
    ("shipment_cancelled", "Diese Sendung wurde storniert."),
    ("carrier_progress", "Fortschritt beim Versanddienst"),
    (
        "number_privacy",
        "Zum Schutz Ihrer Daten zeigt diese Seite nur den Fortschritt des Pakets. Mit Ihrer Bestellnummer sehen Sie die ganze Bestellung.",
    ),
    ("status_order_received", "Bestellung eingegangen"),
    ("status_preparing", "Ihre Bestellung wird vorbereitet"),
    ("status_handed_to_carrier", "An den Versanddienst übergeben"),
    ("status_in_transit", "Unterwegs"),
    ("status_out_for_delivery", "In Zustellung"),
    ("status_delivery_attempted", "Zustellversuch"),
    ("status_ready_for_pickup", "Abholbereit"),
    ("status_delivered", "Zugestellt"),
    ("status_returning_to_sender", "Auf dem Rückweg zum Absender"),
    ("status_return_started", "Rücksendung gestartet"),
    ("status_return_declined", "Rücksendung abgelehnt"),
    ("status_return_received", "Rücksendung eingegangen"),
    ("status_refunded", "Erstattet"),
    ("status_replacement_sent", "Ersatz versandt"),
    ("status_cancelled", "Storniert"),
    ("milestone_ordered", "Bestellung eingegangen"),
    ("milestone_picked", "Artikel entnommen"),
    ("milestone_packed", "Verpackt"),
    ("milestone_staged", "Versandbereit"),
    ("milestone_loaded", "An den Versanddienst übergeben"),
    ("milestone_label_created", "Versandetikett erstellt"),
    ("milestone_carrier_accepted", "Vom Versanddienst abgeholt"),
    ("milestone_in_transit", "Unterwegs"),
    ("milestone_out_for_delivery", "In Zustellung"),
    ("milestone_delivery_attempted", "Zustellversuch"),
    ("milestone_available_for_pickup", "Abholbereit"),
    ("milestone_delivered", "Zugestellt"),
    ("milestone_returned_to_sender", "Auf dem Rückweg zum Absender"),
    ("milestone_other", "Neuigkeit"),
];

const FR: Table = &[
    ("skip_to_content", "Aller au contenu"),
    ("lookup_title", "Suivre votre commande"),
    (
        "lookup_intro",
        "Saisissez votre numéro de commande et l'adresse e-mail ou le code postal utilisés pour la commande.",
    ),
    ("order_number", "Numéro de commande"),
    (
        "second_factor",
        "Confirmez qu'il s'agit de votre commande avec l'une de ces informations",
    ),
    ("email", "Adresse e-mail"),
    ("postal_code", "Code postal"),
    ("lookup_submit", "Suivre la commande"),
    ("number_title", "Suivre un colis avec son numéro de suivi"),
    (
        "number_intro",
        "Affiche uniquement la progression chez le transporteur, sans les détails de la commande.",
    ),
    ("tracking_number", "Numéro de suivi"),
    ("number_submit", "Suivre le colis"),
    ("language", "Langue"),
    ("not_found_title", "Nous n'avons pas trouvé cette commande"),
    (
        "not_found_body",
        "Vérifiez le numéro de commande et l'adresse e-mail ou le code postal, ou rouvrez le lien de votre message d'expédition : les liens expirent au bout d'un certain temps.",
    ),
    ("try_again", "Réessayer"),
    ("rate_limited_title", "Trop de tentatives"),
    (
        "rate_limited_body",
        "Veuillez patienter quelques minutes, puis réessayer.",
    ),
    ("order", "Commande"),
    ("from_sender", "De"),
    ("status_heading", "Où en est votre commande"),
    ("delivered_one", "{n} colis sur {total} livré"),
    ("delivered_other", "{n} colis sur {total} livrés"),
    ("shipment_of", "Envoi {i} sur {count}"),
    ("parcel_n", "Colis {i}"),
    ("carrier", "Transporteur"),
    ("progress", "Suivi"),
    (
        "no_progress_yet",
        "Pas encore de nouvelles. Nous afficherons ici chaque étape dès qu'elle aura lieu.",
    ),
    ("expected", "Livraison prévue"),
    ("originally_expected", "Prévue initialement"),
    (
        "estimate_unknown",
        "Nous ne connaissons pas encore la date de livraison. Nous l'afficherons ici dès que le transporteur nous l'indiquera.",
    ),
    (
        "delayed_estimate_after_promise",
        "En retard : le transporteur prévoit désormais une livraison plus tardive que promis.",
    ),
    (
        "delayed_estimate_passed",
        "En retard : la date de livraison prévue est passée et le colis n'est pas encore arrivé.",
    ),
    (
        "delayed_promise_passed",
        "En retard : la date de livraison promise est passée et le colis n'est pas encore arrivé.",
    ),
    ("delayed_other", "En retard."),
    ("exception", "Il y a un problème avec ce colis : {reason}."),
    ("reason_customs_delay", "il est retenu en douane"),
    ("reason_address_problem", "l'adresse de livraison pose problème"),
    ("reason_refused", "la livraison a été refusée"),
    ("reason_damaged", "il a été endommagé pendant le transport"),
    ("reason_weather_delay", "le mauvais temps le retarde"),
    ("reason_lost", "le transporteur ne le localise plus"),
    ("reason_other", "le transporteur a signalé un incident"),
    ("party_carrier", "Le transporteur s'en occupe."),
    ("party_merchant", "{brand} s'en occupe."),
    (
        "party_customer",
        "Le transporteur a besoin de vous : contactez-le ou contactez notre service client.",
    ),
    (
        "party_customs",
        "La douane le contrôle ; cela prend en général quelques jours.",
    ),
    ("party_weather", "Il repartira dès que la météo le permettra."),
    ("party_site", "{brand} s'en occupe."),
    (
        "not_picked_up",
        "En attente du transporteur : le colis a quitté notre entrepôt mais le transporteur ne l'a pas encore scanné.",
    ),
    (
        "attempt_guidance",
        "Le transporteur n'a pas pu livrer. Il réessaie en général le jour ouvré suivant ou laisse un avis indiquant où retirer le colis.",
    ),
    ("pickup_at", "À retirer à"),
    (
        "pickup_guidance",
        "Munissez-vous de votre numéro de commande ou de suivi et d'une pièce d'identité.",
    ),
    ("proof_of_delivery", "Preuve de livraison"),
    ("delivered_on", "Livré"),
    ("returns_heading", "Retours"),
    (
        "returns_body",
        "Vous pourrez bientôt faire un retour directement ici. En attendant, contactez notre service client.",
    ),
    ("support_heading", "Besoin d'aide ?"),
    ("support_link", "Contacter le service client"),
    ("support_email", "E-mail"),
    ("shipment_cancelled", "Cet envoi a été annulé."),
    ("carrier_progress", "Progression chez le transporteur"),
    (
        "number_privacy",
        "Pour protéger vos données, cette page montre uniquement la progression du colis. Utilisez votre numéro de commande pour voir toute la commande.",
    ),
    ("status_order_received", "Commande reçue"),
    ("status_preparing", "Commande en préparation"),
    ("status_handed_to_carrier", "Remis au transporteur"),
    ("status_in_transit", "En transit"),
    ("status_out_for_delivery", "En cours de livraison"),
    ("status_delivery_attempted", "Tentative de livraison"),
    ("status_ready_for_pickup", "Prêt à être retiré"),
    ("status_delivered", "Livré"),
    ("status_returning_to_sender", "Retour à l'expéditeur"),
    ("status_return_started", "Retour lancé"),
    ("status_return_declined", "Retour refusé"),
    ("status_return_received", "Retour reçu"),
    ("status_refunded", "Remboursé"),
    ("status_replacement_sent", "Remplacement envoyé"),
    ("status_cancelled", "Annulé"),
    ("milestone_ordered", "Commande reçue"),
    ("milestone_picked", "Articles prélevés"),
    ("milestone_packed", "Emballé"),
    ("milestone_staged", "Prêt à expédier"),
    ("milestone_loaded", "Remis au transporteur"),
    ("milestone_label_created", "Étiquette d'expédition créée"),
    ("milestone_carrier_accepted", "Pris en charge par le transporteur"),
    ("milestone_in_transit", "En transit"),
    ("milestone_out_for_delivery", "En cours de livraison"),
    ("milestone_delivery_attempted", "Tentative de livraison"),
    ("milestone_available_for_pickup", "Prêt à être retiré"),
    ("milestone_delivered", "Livré"),
    ("milestone_returned_to_sender", "Retour à l'expéditeur"),
    ("milestone_other", "Mise à jour"),
];

const ES: Table = &[
    ("skip_to_content", "Ir al contenido"),
    ("lookup_title", "Sigue tu pedido"),
    (
        "lookup_intro",
        "Introduce tu número de pedido y el correo electrónico o el código postal con el que hiciste el pedido.",
    ),
    ("order_number", "Número de pedido"),
    ("second_factor", "Confirma que es tu pedido con uno de estos datos"),
    ("email", "Correo electrónico"),
    ("postal_code", "Código postal"),
    ("lookup_submit", "Seguir pedido"),
    ("number_title", "Sigue un paquete con su número de seguimiento"),
    (
        "number_intro",
        "Muestra solo el progreso en la empresa de transporte, sin datos del pedido.",
    ),
    ("tracking_number", "Número de seguimiento"),
    ("number_submit", "Seguir paquete"),
    ("language", "Idioma"),
    ("not_found_title", "No hemos encontrado ese pedido"),
    (
        "not_found_body",
        "Comprueba el número de pedido y el correo electrónico o el código postal, o vuelve a abrir el enlace de tu mensaje de envío: los enlaces caducan al cabo de un tiempo.",
    ),
    ("try_again", "Intentar de nuevo"),
    ("rate_limited_title", "Demasiados intentos"),
    ("rate_limited_body", "Espera unos minutos y vuelve a intentarlo."),
    ("order", "Pedido"),
    ("from_sender", "De"),
    ("status_heading", "Dónde está tu pedido"),
    ("delivered_one", "{n} de {total} paquete entregado"),
    ("delivered_other", "{n} de {total} paquetes entregados"),
    ("shipment_of", "Envío {i} de {count}"),
    ("parcel_n", "Paquete {i}"),
    ("carrier", "Empresa de transporte"),
    ("progress", "Seguimiento"),
    (
        "no_progress_yet",
        "Aún no hay novedades. Mostraremos aquí cada paso en cuanto ocurra.",
    ),
    ("expected", "Entrega prevista"),
    ("originally_expected", "Prevista inicialmente"),
    (
        "estimate_unknown",
        "Aún no conocemos la fecha de entrega. La mostraremos aquí en cuanto nos la indique la empresa de transporte.",
    ),
    (
        "delayed_estimate_after_promise",
        "Con retraso: la empresa de transporte prevé ahora entregarlo más tarde de lo prometido.",
    ),
    (
        "delayed_estimate_passed",
        "Con retraso: la fecha de entrega prevista ha pasado y el paquete aún no ha llegado.",
    ),
    (
        "delayed_promise_passed",
        "Con retraso: la fecha de entrega prometida ha pasado y el paquete aún no ha llegado.",
    ),
    ("delayed_other", "Con retraso."),
    ("exception", "Hay un problema con este paquete: {reason}."),
    ("reason_customs_delay", "está retenido en aduanas"),
    ("reason_address_problem", "hay un problema con la dirección de entrega"),
    ("reason_refused", "se rechazó la entrega"),
    ("reason_damaged", "se dañó durante el transporte"),
    ("reason_weather_delay", "el mal tiempo lo está retrasando"),
    ("reason_lost", "la empresa de transporte no lo localiza"),
    (
        "reason_other",
        "la empresa de transporte ha informado de una incidencia",
    ),
    ("party_carrier", "La empresa de transporte se está ocupando."),
    ("party_merchant", "{brand} se está ocupando."),
    (
        "party_customer",
        "La empresa de transporte necesita algo de ti: contacta con ella o con nuestro servicio de atención.",
    ),
    ("party_customs", "La aduana lo está revisando; suele tardar unos días."),
    ("party_weather", "Seguirá su camino en cuanto el tiempo lo permita."),
    ("party_site", "{brand} se está ocupando."),
    (
        "not_picked_up",
        "Esperando a la empresa de transporte: el paquete salió de nuestro almacén pero aún no lo ha escaneado.",
    ),
    (
        "attempt_guidance",
        "La empresa de transporte intentó entregarlo sin éxito. Normalmente lo intenta de nuevo el siguiente día laborable o deja un aviso indicando dónde recogerlo.",
    ),
    ("pickup_at", "Listo para recoger en"),
    (
        "pickup_guidance",
        "Lleva tu número de pedido o de seguimiento y un documento de identidad.",
    ),
    ("proof_of_delivery", "Prueba de entrega"),
    ("delivered_on", "Entregado"),
    ("returns_heading", "Devoluciones"),
    (
        "returns_body",
        "Pronto podrás iniciar una devolución aquí mismo. Mientras tanto, contacta con nuestro servicio de atención.",
    ),
    ("support_heading", "¿Necesitas ayuda?"),
    ("support_link", "Contactar con atención al cliente"),
    ("support_email", "Correo electrónico"),
    ("shipment_cancelled", "Este envío se ha cancelado."),
    ("carrier_progress", "Progreso en la empresa de transporte"),
    (
        "number_privacy",
        "Para proteger tus datos, esta página solo muestra el progreso del paquete. Usa tu número de pedido para ver el pedido completo.",
    ),
    ("status_order_received", "Pedido recibido"),
    ("status_preparing", "Preparando tu pedido"),
    ("status_handed_to_carrier", "Entregado a la empresa de transporte"),
    ("status_in_transit", "En tránsito"),
    ("status_out_for_delivery", "En reparto"),
    ("status_delivery_attempted", "Intento de entrega"),
    ("status_ready_for_pickup", "Listo para recoger"),
    ("status_delivered", "Entregado"),
    ("status_returning_to_sender", "Volviendo al remitente"),
    ("status_return_started", "Devolución iniciada"),
    ("status_return_declined", "Devolución rechazada"),
    ("status_return_received", "Devolución recibida"),
    ("status_refunded", "Reembolsado"),
    ("status_replacement_sent", "Sustitución enviada"),
    ("status_cancelled", "Cancelado"),
    ("milestone_ordered", "Pedido recibido"),
    ("milestone_picked", "Artículos recogidos"),
    ("milestone_packed", "Embalado"),
    ("milestone_staged", "Listo para enviar"),
    ("milestone_loaded", "Entregado a la empresa de transporte"),
    ("milestone_label_created", "Etiqueta de envío creada"),
    ("milestone_carrier_accepted", "Recogido por la empresa de transporte"),
    ("milestone_in_transit", "En tránsito"),
    ("milestone_out_for_delivery", "En reparto"),
    ("milestone_delivery_attempted", "Intento de entrega"),
    ("milestone_available_for_pickup", "Listo para recoger"),
    ("milestone_delivered", "Entregado"),
    ("milestone_returned_to_sender", "Volviendo al remitente"),
    ("milestone_other", "Novedad"),
];

fn table(lang: Lang) -> Table {
    match lang {
        Lang::En => EN,
        Lang::De => DE,
        Lang::Fr => FR,
        Lang::Es => ES,
    }
}

/// The words of `lang` by key, as templates read them (`t.key`).
pub fn words(lang: Lang) -> &'static BTreeMap<&'static str, &'static str> {
    static ALL: OnceLock<[BTreeMap<&'static str, &'static str>; 4]> = OnceLock::new();
    let all = ALL.get_or_init(|| Lang::ALL.map(|l| table(l).iter().copied().collect()));
    &all[Lang::ALL.iter().position(|l| *l == lang).unwrap_or(0)]
}

/// The text of `key` in `lang`; English when the key is missing there (a
/// test forbids that), the key itself when it is missing everywhere.
pub fn text(lang: Lang, key: &str) -> &'static str {
    words(lang)
        .get(key)
        .or_else(|| words(Lang::En).get(key))
        .copied()
        .unwrap_or("")
}

/// `template` with each `{name}` replaced by its value.
pub fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = template.to_string();
    for (name, value) in values {
        out = out.replace(&format!("{{{name}}}"), value);
    }
    out
}

/// "2 of 3 parcels delivered" with each language's plural rule: English,
/// German and Spanish inflect the noun after the total; French the
/// participle after the count (and 0 and 1 are singular).
pub fn delivered_count(lang: Lang, n: usize, total: usize) -> String {
    let one = match lang {
        Lang::Fr => n <= 1,
        Lang::En | Lang::De | Lang::Es => total == 1,
    };
    let key = if one { "delivered_one" } else { "delivered_other" };
    fill(text(lang, key), &[("n", &n.to_string()), ("total", &total.to_string())])
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn every_key_exists_once_in_every_language() {
        let keys = |t: Table| -> BTreeSet<&str> { t.iter().map(|(k, _)| *k).collect() };
        let english = keys(EN);
        assert_eq!(english.len(), EN.len(), "a key is repeated in English");
        for lang in Lang::ALL {
            let t = table(lang);
            assert_eq!(keys(t), english, "{lang:?} has other keys than English");
            assert_eq!(t.len(), EN.len(), "{lang:?} repeats a key");
            for (k, v) in t {
                assert!(!v.trim().is_empty(), "{lang:?} {k} is empty");
                let placeholders = |s: &str| s.matches('{').count();
                assert_eq!(placeholders(v), placeholders(text(Lang::En, k)), "{lang:?} {k}");
            }
        }
    }

    #[test]
    fn every_customer_status_has_words() {
        use crate::status::CustomerStatus as C;
        for s in [
            C::OrderReceived,
            C::Preparing,
            C::HandedToCarrier,
            C::InTransit,
            C::OutForDelivery,
            C::DeliveryAttempted,
            C::ReadyForPickup,
            C::Delivered,
            C::ReturningToSender,
            C::ReturnStarted,
            C::ReturnDeclined,
            C::ReturnReceived,
            C::Refunded,
            C::ReplacementSent,
            C::Cancelled,
        ] {
            let key = format!("status_{}", s.as_str());
            assert!(words(Lang::En).contains_key(key.as_str()), "{key}");
            assert_eq!(
                text(Lang::En, &key),
                s.text(),
                "English words agree with CustomerStatus::text"
            );
        }
    }

    #[test]
    fn plurals_follow_each_language() {
        assert_eq!(delivered_count(Lang::En, 2, 3), "2 of 3 parcels delivered");
        assert_eq!(delivered_count(Lang::En, 1, 1), "1 of 1 parcel delivered");
        assert_eq!(delivered_count(Lang::De, 1, 2), "1 von 2 Paketen zugestellt");
        assert_eq!(delivered_count(Lang::Fr, 1, 2), "1 colis sur 2 livré");
        assert_eq!(delivered_count(Lang::Fr, 2, 3), "2 colis sur 3 livrés");
        assert_eq!(delivered_count(Lang::Es, 0, 2), "0 de 2 paquetes entregados");
    }
}
