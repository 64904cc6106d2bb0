package soap

import (
	"encoding/xml"

	"github.com/sharedmedcard/gateway/soap/envelope"
)

// Our header blocks and GetMedicineCard's request, which every cached read
// carries, decode themselves (envelope/decode.go says how, and why):
// fields matched by local name, as encoding/xml matches a tag without a
// namespace (the token filter holds every element to ours). The other
// operations' requests still go through encoding/xml's reflection.
// TestHandDecodingMatchesEncodingXML holds both to encoding/xml's result.

// UnmarshalXML implements xml.Unmarshaler.
func (h *messageHeader) UnmarshalXML(d *xml.Decoder, _ xml.StartElement) error {
	return envelope.ReadChildren(d, func(el xml.StartElement) error {
		var err error
		switch el.Name.Local {
		case "MessageID":
			h.MessageID, err = envelope.ReadText(d)
		case "FlowID":
			h.FlowID, err = envelope.ReadText(d)
		default:
			err = d.Skip()
		}
		return err
	})
}

// UnmarshalXML implements xml.Unmarshaler.
func (h *whitelistingHeader) UnmarshalXML(d *xml.Decoder, _ xml.StartElement) error {
	return envelope.ReadChildren(d, func(el xml.StartElement) error {
		var err error
		switch el.Name.Local {
		case "SystemName":
			h.SystemName, err = envelope.ReadText(d)
		case "SystemVersion":
			h.SystemVersion, err = envelope.ReadText(d)
		case "OrganisationIdentifier":
			h.OrganisationIdentifier, err = envelope.ReadText(d)
		case "OrganisationName":
			h.OrganisationName, err = envelope.ReadText(d)
		case "RequestedRole":
			h.RequestedRole, err = envelope.ReadText(d)
		default:
			err = d.Skip()
		}
		return err
	})
}

// UnmarshalXML implements xml.Unmarshaler.
func (h *onBehalfOfHeader) UnmarshalXML(d *xml.Decoder, _ xml.StartElement) error {
	return envelope.ReadChildren(d, func(el xml.StartElement) error {
		var err error
		switch el.Name.Local {
		case "AuthorisationIdentifier":
			h.AuthorisationIdentifier, err = envelope.ReadText(d)
		case "Role":
			h.Role, err = envelope.ReadText(d)
		default:
			err = d.Skip()
		}
		return err
	})
}

// UnmarshalXML implements xml.Unmarshaler. The parser has checked the
// element's name and namespace (UnknownBody, WrongNamespace) before.
func (r *GetMedicineCardRequest) UnmarshalXML(d *xml.Decoder, start xml.StartElement) error {
	r.XMLName = start.Name
	return envelope.ReadChildren(d, func(el xml.StartElement) error {
		var err error
		switch el.Name.Local {
		case "PersonIdentifier":
			r.PersonIdentifier, err = envelope.ReadText(d)
		case "IncludePrescriptions":
			r.IncludePrescriptions, err = envelope.ReadBool(d)
		case "IncludeEffectuations":
			r.IncludeEffectuations, err = envelope.ReadBool(d)
		case "IncludeWithdrawnSince":
			r.IncludeWithdrawnSince, err = envelope.ReadText(d)
		default:
			err = d.Skip()
		}
		return err
	})
}
