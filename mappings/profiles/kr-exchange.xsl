<?xml version="1.0" encoding="UTF-8"?>
<!--
  Korean clinical information exchange (진료정보교류) documents
  1.2.410.100110.40.2.1.1 to .6: the shared header rules, then the rules of
  each document the templateIds declare.

  The national conventions (realm KR, Korean language, institution OIDs
  1.2.410.100110.10.<HIRA institution code>, the documents' sections) come
  from published generator code rather than the official guide, and test
  institutions use 2.25 OIDs, so only what a document of its kind cannot do
  without is an error: a realmCode naming another realm, a referral without
  recipient or reason, an imaging report without findings.  Everything
  else is a warning.  Messages never copy values out of the document.
  Rules: KR-HDR-001 ... (see docs/VALIDATION.md).
-->
<xsl:stylesheet version="1.0"
    xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
    xmlns:h="urn:hl7-org:v3"
    xmlns="urn:cdxgw:issues"
    exclude-result-prefixes="h">

  <xsl:output method="xml" encoding="UTF-8" indent="no"/>

  <xsl:variable name="inst" select="'1.2.410.100110.10.'"/>
  <xsl:variable name="kr-arc" select="'1.2.410.100110.40.2.1.'"/>

  <!-- Section recognition.  Korean producers code sections with LOINC, with
       C-CDA / IHE section templateIds, or only with a Korean title, so a
       section is recognised by any of the three.  The lists are broad on
       purpose: a rule built on them fires only when nothing in the body
       looks like the required section.  Sections nested at any depth count;
       a nonXMLBody (scanned or PDF report) has no sections to check. -->
  <xsl:variable name="kr-doc" select="/h:ClinicalDocument"/>
  <xsl:variable name="kr-secs" select="$kr-doc/h:component/h:structuredBody//h:section"/>
  <xsl:variable name="kr-structured" select="boolean($kr-doc/h:component/h:structuredBody)"/>
  <xsl:variable name="kr-body" select="'/ClinicalDocument/component/structuredBody'"/>
  <xsl:variable name="kr-upper" select="'ABCDEFGHIJKLMNOPQRSTUVWXYZ'"/>
  <xsl:variable name="kr-lower" select="'abcdefghijklmnopqrstuvwxyz'"/>

  <!-- Problems and diagnoses: Problem list, Diagnosis, discharge and
       admission diagnoses, Assessment, Assessment and plan. -->
  <xsl:variable name="kr-problem" select="$kr-secs[
      contains(' 11450-4 29548-5 11535-2 46241-6 51848-0 51847-2 ', concat(' ', h:code/@code, ' '))
      or contains(' 11450-4 29548-5 11535-2 46241-6 51848-0 51847-2 ', concat(' ', h:code/h:translation/@code, ' '))
      or h:templateId[@root = '2.16.840.1.113883.10.20.22.2.5' or @root = '2.16.840.1.113883.10.20.22.2.5.1'
          or @root = '2.16.840.1.113883.10.20.22.2.24' or @root = '2.16.840.1.113883.10.20.22.2.8'
          or @root = '2.16.840.1.113883.10.20.22.2.9' or @root = '1.3.6.1.4.1.19376.1.5.3.1.3.6']
      or contains(h:title, '진단') or contains(h:title, '상병') or contains(h:title, '병명')
      or contains(h:title, '문제')
      or contains(translate(h:title, $kr-upper, $kr-lower), 'problem')
      or contains(translate(h:title, $kr-upper, $kr-lower), 'diagnos')]"/>

  <!-- Reason for referral or visit, chief complaint. -->
  <xsl:variable name="kr-reason" select="$kr-secs[
      contains(' 42349-1 29299-5 46239-0 10154-3 ', concat(' ', h:code/@code, ' '))
      or h:templateId[@root = '1.3.6.1.4.1.19376.1.5.3.1.3.1' or @root = '2.16.840.1.113883.10.20.22.2.12'
          or @root = '2.16.840.1.113883.10.20.22.2.13' or @root = '1.3.6.1.4.1.19376.1.5.3.1.1.13.2.1']
      or contains(h:title, '의뢰') or contains(h:title, '사유') or contains(h:title, '주호소')
      or contains(translate(h:title, $kr-upper, $kr-lower), 'referral')
      or contains(translate(h:title, $kr-upper, $kr-lower), 'reason')]"/>

  <!-- Medications: medication list, discharge medications, administered. -->
  <xsl:variable name="kr-medication" select="$kr-secs[
      contains(' 10160-0 10183-2 29549-3 ', concat(' ', h:code/@code, ' '))
      or h:templateId[starts-with(@root, '2.16.840.1.113883.10.20.22.2.1.') or @root = '2.16.840.1.113883.10.20.22.2.1'
          or @root = '2.16.840.1.113883.10.20.22.2.11' or @root = '2.16.840.1.113883.10.20.22.2.11.1'
          or @root = '2.16.840.1.113883.10.20.22.2.38']
      or contains(h:title, '약') or contains(h:title, '처방')
      or contains(translate(h:title, $kr-upper, $kr-lower), 'medication')]"/>

  <!-- Imaging findings and impressions (LOINC and DICOM DCM codes). -->
  <xsl:variable name="kr-imaging" select="$kr-secs[
      contains(' 18782-3 19005-8 59776-5 121070 121071 121072 ', concat(' ', h:code/@code, ' '))
      or h:templateId[@root = '2.16.840.1.113883.10.20.6.1.2' or @root = '2.16.840.1.113883.10.20.6.2.1']
      or contains(h:title, '판독') or contains(h:title, '소견') or contains(h:title, '결론')
      or contains(h:title, '인상')
      or contains(translate(h:title, $kr-upper, $kr-lower), 'finding')
      or contains(translate(h:title, $kr-upper, $kr-lower), 'impression')]"/>

  <!-- Vital signs. -->
  <xsl:variable name="kr-vitals" select="$kr-secs[
      h:code/@code = '8716-3'
      or h:templateId[@root = '2.16.840.1.113883.10.20.22.2.4' or @root = '2.16.840.1.113883.10.20.22.2.4.1']
      or contains(h:title, '활력')
      or contains(translate(h:title, $kr-upper, $kr-lower), 'vital')]"/>

  <!-- A consultant's opinion or plan: assessment, plan, recommendation. -->
  <xsl:variable name="kr-opinion" select="$kr-secs[
      contains(' 51848-0 51847-2 18776-5 18783-1 11488-4 ', concat(' ', h:code/@code, ' '))
      or h:templateId[@root = '2.16.840.1.113883.10.20.22.2.8' or @root = '2.16.840.1.113883.10.20.22.2.9'
          or @root = '2.16.840.1.113883.10.20.22.2.10']
      or contains(h:title, '소견') or contains(h:title, '회신') or contains(h:title, '의견')
      or contains(h:title, '계획')
      or contains(translate(h:title, $kr-upper, $kr-lower), 'assessment')
      or contains(translate(h:title, $kr-upper, $kr-lower), 'plan')]"/>

  <xsl:template match="/">
    <issues>
      <xsl:apply-templates select="h:ClinicalDocument" mode="check"/>
    </issues>
  </xsl:template>

  <xsl:template match="h:ClinicalDocument" mode="check">
    <xsl:call-template name="header"/>
    <xsl:variable name="recipient" select="h:informationRecipient/h:intendedRecipient"/>

    <!-- 진료의뢰서 (referral note). A referral goes to a named receiving institution and
       says why the patient is referred: a missing recipient, or a structured body
       with nothing that reads as a reason for referral, a diagnosis or a problem
       list, is an error. -->
    <xsl:if test="h:templateId[@root = concat($kr-arc, '1')]">
      <xsl:if test="not($recipient)">
        <issue severity="error" rule="KR-REF-001" location="/ClinicalDocument/informationRecipient">A referral must name its recipient: add informationRecipient/intendedRecipient with the receiving institution (receivedOrganization) and, when known, the doctor.</issue>
      </xsl:if>
      <xsl:if test="$recipient and not($recipient/h:receivedOrganization)">
        <issue severity="warning" rule="KR-REF-002" location="/ClinicalDocument/informationRecipient/intendedRecipient/receivedOrganization">The referral's recipient names no institution; add intendedRecipient/receivedOrganization with the institution's OID and name.</issue>
      </xsl:if>
      <xsl:if test="$kr-structured and not($kr-reason or $kr-problem)">
        <issue severity="error" rule="KR-REF-003" location="{$kr-body}">A referral needs a reason-for-referral section (LOINC 42349-1) or a problem/diagnosis section (LOINC 11450-4 or 29548-5); none was found.</issue>
      </xsl:if>
      <xsl:if test="$kr-structured and not($kr-medication)">
        <issue severity="warning" rule="KR-REF-004" location="{$kr-body}">The referral has no medications section (LOINC 10160-0); the receiving clinician usually needs the current medications (nullFlavor=&quot;NI&quot; when there are none).</issue>
      </xsl:if>
    </xsl:if>

    <!-- 진료회송서 (transfer note: the patient returns to the referring institution).
       Warnings only: the official section list could not be verified. -->
    <xsl:if test="h:templateId[@root = concat($kr-arc, '2')]">
      <xsl:if test="not($recipient)">
        <issue severity="warning" rule="KR-TRN-001" location="/ClinicalDocument/informationRecipient">A transfer note should name the institution it returns the patient to: add informationRecipient/intendedRecipient/receivedOrganization.</issue>
      </xsl:if>
      <xsl:if test="$kr-structured and not($kr-problem)">
        <issue severity="warning" rule="KR-TRN-002" location="{$kr-body}">The transfer note has no problem/diagnosis section (LOINC 11450-4 or 29548-5).</issue>
      </xsl:if>
      <xsl:if test="$kr-structured and not($kr-medication)">
        <issue severity="warning" rule="KR-TRN-003" location="{$kr-body}">The transfer note has no medications section (LOINC 10160-0).</issue>
      </xsl:if>
    </xsl:if>

    <!-- 회신서 (consultation reply: the consultant's answer to a referral).
       Warnings only, as for the transfer note. -->
    <xsl:if test="h:templateId[@root = concat($kr-arc, '3')]">
      <xsl:if test="not($recipient)">
        <issue severity="warning" rule="KR-CON-001" location="/ClinicalDocument/informationRecipient">A consultation reply should name the referring institution it answers: add informationRecipient/intendedRecipient/receivedOrganization.</issue>
      </xsl:if>
      <xsl:if test="$kr-structured and not($kr-opinion or $kr-problem)">
        <issue severity="warning" rule="KR-CON-002" location="{$kr-body}">The consultation reply has no opinion, assessment or diagnosis section (LOINC 51848-0, 51847-2 or 11450-4).</issue>
      </xsl:if>
    </xsl:if>

    <!-- 진료기록요약지 (care record summary). Warnings only. -->
    <xsl:if test="h:templateId[@root = concat($kr-arc, '4')]">
      <xsl:if test="$kr-structured and not($kr-problem)">
        <issue severity="warning" rule="KR-SUM-001" location="{$kr-body}">The care record summary has no problem/diagnosis section (LOINC 11450-4 or 29548-5).</issue>
      </xsl:if>
      <xsl:if test="$kr-structured and not($kr-medication)">
        <issue severity="warning" rule="KR-SUM-002" location="{$kr-body}">The care record summary has no medications section (LOINC 10160-0).</issue>
      </xsl:if>
    </xsl:if>

    <!-- 영상판독소견서 (diagnostic imaging report). The report exists to carry the
       radiologist's reading, so a structured body with nothing that reads as
       findings or impression is an error. -->
    <xsl:if test="h:templateId[@root = concat($kr-arc, '5')]">
      <xsl:if test="$kr-structured and not($kr-imaging)">
        <issue severity="error" rule="KR-IMG-001" location="{$kr-body}">An imaging report needs a findings or impression section (LOINC 18782-3 or 19005-8, DICOM 121070 or 121072); none was found.</issue>
      </xsl:if>
      <xsl:if test="not(h:documentationOf/h:serviceEvent)">
        <issue severity="warning" rule="KR-IMG-002" location="/ClinicalDocument/documentationOf">The imaging report should identify the study it reads: add documentationOf/serviceEvent with the procedure code and time.</issue>
      </xsl:if>
    </xsl:if>

    <!-- 전원소견서 (transfer opinion when moving a patient). The exchange validator
       is reported to require vital signs; unverified, so a warning. -->
    <xsl:if test="h:templateId[@root = concat($kr-arc, '6')]">
      <xsl:if test="$kr-structured and not($kr-vitals)">
        <issue severity="warning" rule="KR-EMS-001" location="{$kr-body}">The transfer opinion has no vital signs section (LOINC 8716-3).</issue>
      </xsl:if>
    </xsl:if>
  </xsl:template>

  <!-- Header rules shared by every Korean exchange document. -->
  <xsl:template name="header">
    <xsl:choose>
      <xsl:when test="h:realmCode and not(h:realmCode[@code = 'KR'])">
        <issue severity="error" rule="KR-HDR-001" location="/ClinicalDocument/realmCode">A Korean exchange document must have realmCode code="KR"; the document declares another realm.</issue>
      </xsl:when>
      <xsl:when test="not(h:realmCode)">
        <issue severity="warning" rule="KR-HDR-001" location="/ClinicalDocument/realmCode">realmCode is missing; add &lt;realmCode code="KR"/&gt; as the first child of ClinicalDocument.</issue>
      </xsl:when>
    </xsl:choose>

    <xsl:if test="not(h:languageCode[@code = 'ko' or @code = 'ko-KR'])">
      <issue severity="warning" rule="KR-HDR-002" location="/ClinicalDocument/languageCode">languageCode should be "ko-KR" (or "ko") for a Korean exchange document.</issue>
    </xsl:if>

    <xsl:if test="h:recordTarget/h:patientRole/h:id[@root] and not(h:recordTarget/h:patientRole/h:id[starts-with(@root, $inst) or @root = '1.2.410.100110.10'])">
      <issue severity="warning" rule="KR-HDR-003" location="/ClinicalDocument/recordTarget/patientRole/id">No patient id is assigned under an institution OID (1.2.410.100110.10.&lt;institution code&gt;); receivers match patients by the registering institution's OID.</issue>
    </xsl:if>

    <xsl:variable name="org" select="h:custodian/h:assignedCustodian/h:representedCustodianOrganization"/>
    <xsl:if test="$org/h:id and not($org/h:id[starts-with(@root, $inst) or @root = '1.2.410.100110.10'])">
      <issue severity="warning" rule="KR-HDR-004" location="/ClinicalDocument/custodian/assignedCustodian/representedCustodianOrganization/id">The custodian institution id is not an institution OID (1.2.410.100110.10.&lt;8-digit HIRA institution code&gt;).</issue>
    </xsl:if>
    <xsl:if test="$org and not($org/h:name)">
      <issue severity="warning" rule="KR-HDR-005" location="/ClinicalDocument/custodian/assignedCustodian/representedCustodianOrganization/name">The custodian institution has no name; add representedCustodianOrganization/name.</issue>
    </xsl:if>

    <xsl:for-each select="h:author/h:assignedAuthor">
      <xsl:if test="not(h:id[@root or @extension])">
        <issue severity="warning" rule="KR-HDR-006" location="/ClinicalDocument/author[{position()}]/assignedAuthor/id">The author has no id; give the clinician's licence number (면허번호) as assignedAuthor/id.</issue>
      </xsl:if>
    </xsl:for-each>

    <xsl:if test="h:recordTarget/h:patientRole and not(h:recordTarget/h:patientRole/h:patient/h:name)">
      <issue severity="warning" rule="KR-HDR-007" location="/ClinicalDocument/recordTarget/patientRole/patient/name">The patient's name is missing; add patient/name.</issue>
    </xsl:if>
  </xsl:template>

</xsl:stylesheet>
