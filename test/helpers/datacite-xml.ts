/**
 * DataCite kernel-4 XML validation for tests: an XML Schema written from the specification's
 * property list, checked by xmllint (Debian's libxml2-utils), nothing fetched from the network.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { RELATED_IDENTIFIER_TYPES, RELATION_TYPES } from '../../schemas/metadata.ts';

/** An XML Schema for DataCite kernel-4 written from the specification's property list. */
export const KERNEL4_XSD = `<?xml version="1.0" encoding="UTF-8"?>
<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="http://datacite.org/schema/kernel-4"
  xmlns="http://datacite.org/schema/kernel-4" elementFormDefault="qualified">
  <xs:import namespace="http://www.w3.org/XML/1998/namespace" schemaLocation="xml.xsd"/>
  <xs:simpleType name="nonEmpty"><xs:restriction base="xs:string"><xs:minLength value="1"/></xs:restriction></xs:simpleType>
  <xs:simpleType name="resourceTypeGeneral"><xs:restriction base="xs:string">
    ${['Audiovisual', 'Book', 'BookChapter', 'Collection', 'ComputationalNotebook', 'ConferencePaper', 'ConferenceProceeding', 'DataPaper', 'Dataset', 'Dissertation', 'Event', 'Image', 'Instrument', 'InteractiveResource', 'Journal', 'JournalArticle', 'Model', 'OutputManagementPlan', 'PeerReview', 'PhysicalObject', 'Preprint', 'Report', 'Service', 'Software', 'Sound', 'Standard', 'StudyRegistration', 'Text', 'Workflow', 'Other'].map((v) => `<xs:enumeration value="${v}"/>`).join('')}
  </xs:restriction></xs:simpleType>
  <xs:simpleType name="relationType"><xs:restriction base="xs:string">${RELATION_TYPES.map((v) => `<xs:enumeration value="${v}"/>`).join('')}</xs:restriction></xs:simpleType>
  <xs:simpleType name="relatedIdentifierType"><xs:restriction base="xs:string">${RELATED_IDENTIFIER_TYPES.map((v) => `<xs:enumeration value="${v}"/>`).join('')}</xs:restriction></xs:simpleType>
  <xs:simpleType name="dateType"><xs:restriction base="xs:string">${['Accepted', 'Available', 'Copyrighted', 'Collected', 'Coverage', 'Created', 'Issued', 'Submitted', 'Updated', 'Valid', 'Withdrawn', 'Other'].map((v) => `<xs:enumeration value="${v}"/>`).join('')}</xs:restriction></xs:simpleType>
  <xs:simpleType name="descriptionType"><xs:restriction base="xs:string">${['Abstract', 'Methods', 'SeriesInformation', 'TableOfContents', 'TechnicalInfo', 'Other'].map((v) => `<xs:enumeration value="${v}"/>`).join('')}</xs:restriction></xs:simpleType>
  <xs:simpleType name="nameType"><xs:restriction base="xs:string"><xs:enumeration value="Personal"/><xs:enumeration value="Organizational"/></xs:restriction></xs:simpleType>
  <xs:element name="resource"><xs:complexType><xs:sequence>
    <xs:element name="identifier"><xs:complexType><xs:simpleContent><xs:extension base="nonEmpty">
      <xs:attribute name="identifierType" use="required" fixed="DOI"/></xs:extension></xs:simpleContent></xs:complexType></xs:element>
    <xs:element name="creators"><xs:complexType><xs:sequence>
      <xs:element name="creator" maxOccurs="unbounded"><xs:complexType><xs:sequence>
        <xs:element name="creatorName"><xs:complexType><xs:simpleContent><xs:extension base="nonEmpty">
          <xs:attribute name="nameType" type="nameType"/></xs:extension></xs:simpleContent></xs:complexType></xs:element>
        <xs:element name="givenName" type="xs:string" minOccurs="0"/>
        <xs:element name="familyName" type="xs:string" minOccurs="0"/>
        <xs:element name="nameIdentifier" minOccurs="0" maxOccurs="unbounded"><xs:complexType><xs:simpleContent><xs:extension base="nonEmpty">
          <xs:attribute name="nameIdentifierScheme" use="required"/><xs:attribute name="schemeURI" type="xs:anyURI"/></xs:extension></xs:simpleContent></xs:complexType></xs:element>
        <xs:element name="affiliation" type="xs:string" minOccurs="0" maxOccurs="unbounded"/>
      </xs:sequence></xs:complexType></xs:element>
    </xs:sequence></xs:complexType></xs:element>
    <xs:element name="titles"><xs:complexType><xs:sequence>
      <xs:element name="title" maxOccurs="unbounded"><xs:complexType><xs:simpleContent><xs:extension base="nonEmpty">
        <xs:attribute name="titleType"/><xs:attribute ref="xml:lang"/></xs:extension></xs:simpleContent></xs:complexType></xs:element>
    </xs:sequence></xs:complexType></xs:element>
    <xs:element name="publisher" type="nonEmpty"/>
    <xs:element name="publicationYear"><xs:simpleType><xs:restriction base="xs:string"><xs:pattern value="[\\d]{4}"/></xs:restriction></xs:simpleType></xs:element>
    <xs:element name="resourceType"><xs:complexType><xs:simpleContent><xs:extension base="xs:string">
      <xs:attribute name="resourceTypeGeneral" type="resourceTypeGeneral" use="required"/></xs:extension></xs:simpleContent></xs:complexType></xs:element>
    <xs:element name="subjects" minOccurs="0"><xs:complexType><xs:sequence>
      <xs:element name="subject" maxOccurs="unbounded"><xs:complexType><xs:simpleContent><xs:extension base="xs:string">
        <xs:attribute name="subjectScheme"/></xs:extension></xs:simpleContent></xs:complexType></xs:element></xs:sequence></xs:complexType></xs:element>
    <xs:element name="dates" minOccurs="0"><xs:complexType><xs:sequence>
      <xs:element name="date" maxOccurs="unbounded"><xs:complexType><xs:simpleContent><xs:extension base="xs:string">
        <xs:attribute name="dateType" type="dateType" use="required"/><xs:attribute name="dateInformation"/></xs:extension></xs:simpleContent></xs:complexType></xs:element></xs:sequence></xs:complexType></xs:element>
    <xs:element name="alternateIdentifiers" minOccurs="0"><xs:complexType><xs:sequence>
      <xs:element name="alternateIdentifier" maxOccurs="unbounded"><xs:complexType><xs:simpleContent><xs:extension base="xs:string">
        <xs:attribute name="alternateIdentifierType" use="required"/></xs:extension></xs:simpleContent></xs:complexType></xs:element></xs:sequence></xs:complexType></xs:element>
    <xs:element name="relatedIdentifiers" minOccurs="0"><xs:complexType><xs:sequence>
      <xs:element name="relatedIdentifier" maxOccurs="unbounded"><xs:complexType><xs:simpleContent><xs:extension base="nonEmpty">
        <xs:attribute name="relatedIdentifierType" type="relatedIdentifierType" use="required"/>
        <xs:attribute name="relationType" type="relationType" use="required"/></xs:extension></xs:simpleContent></xs:complexType></xs:element></xs:sequence></xs:complexType></xs:element>
    <xs:element name="version" type="xs:string" minOccurs="0"/>
    <xs:element name="rightsList" minOccurs="0"><xs:complexType><xs:sequence>
      <xs:element name="rights" maxOccurs="unbounded"><xs:complexType><xs:simpleContent><xs:extension base="xs:string">
        <xs:attribute name="rightsURI" type="xs:anyURI"/><xs:attribute name="rightsIdentifier"/></xs:extension></xs:simpleContent></xs:complexType></xs:element></xs:sequence></xs:complexType></xs:element>
    <xs:element name="descriptions" minOccurs="0"><xs:complexType><xs:sequence>
      <xs:element name="description" maxOccurs="unbounded"><xs:complexType><xs:simpleContent><xs:extension base="xs:string">
        <xs:attribute name="descriptionType" type="descriptionType" use="required"/></xs:extension></xs:simpleContent></xs:complexType></xs:element></xs:sequence></xs:complexType></xs:element>
    <xs:element name="fundingReferences" minOccurs="0"><xs:complexType><xs:sequence>
      <xs:element name="fundingReference" maxOccurs="unbounded"><xs:complexType><xs:sequence>
        <xs:element name="funderName" type="nonEmpty"/>
        <xs:element name="funderIdentifier" minOccurs="0"><xs:complexType><xs:simpleContent><xs:extension base="xs:string">
          <xs:attribute name="funderIdentifierType" use="required"/></xs:extension></xs:simpleContent></xs:complexType></xs:element>
        <xs:element name="awardNumber" type="xs:string" minOccurs="0"/>
        <xs:element name="awardTitle" type="xs:string" minOccurs="0"/>
      </xs:sequence></xs:complexType></xs:element></xs:sequence></xs:complexType></xs:element>
  </xs:sequence></xs:complexType></xs:element>
</xs:schema>
`;

/** The xml: namespace's one attribute we use, so that nothing is fetched. */
const XML_XSD = `<?xml version="1.0"?>
<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="http://www.w3.org/XML/1998/namespace">
  <xs:attribute name="lang" type="xs:language"/>
</xs:schema>
`;

export function xmllint(args: string[], input?: string): { ok: boolean; output: string } {
  try {
    const output = execFileSync('xmllint', ['--nonet', ...args], { input, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });
    return { ok: true, output };
  } catch (error) {
    const e = error as { stderr?: string; stdout?: string; code?: string };
    if (e.code === 'ENOENT') throw new Error('xmllint is missing: install Debian\'s libxml2-utils (CI installs it) to validate DataCite XML');
    return { ok: false, output: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

/** Validate a DataCite XML document with xmllint against KERNEL4_XSD (the schemas written into `tmp`). */
export function validateDataciteXml(tmp: string, xml: string): { ok: boolean; output: string } {
  fs.writeFileSync(path.join(tmp, 'kernel-4.xsd'), KERNEL4_XSD);
  fs.writeFileSync(path.join(tmp, 'xml.xsd'), XML_XSD);
  const file = path.join(tmp, `record-${Math.random().toString(36).slice(2)}.xml`);
  fs.writeFileSync(file, xml);
  return xmllint(['--noout', '--schema', path.join(tmp, 'kernel-4.xsd'), file]);
}

export const xpath = (xml: string, expression: string) => xmllint(['--xpath', expression, '-'], xml).output.trim();
