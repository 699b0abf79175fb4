<?xml version="1.0" encoding="UTF-8"?>
<!--
  Dasom Family Clinic.  On top of the default mapping:

  - The clinic's EMR names code systems instead of giving their OIDs
    (codeSystem="KCD8", "EDI", "KD"); those codes are handled as if the OID
    had been sent, so they map through the shared code maps, and the
    canonical form carries the OID (the name survives as codeSystemName).
  - EUC-KR, the byte order mark and CRLF line ends are the parser's
    business; nothing here depends on them.
-->
<xsl:stylesheet version="1.0"
    xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
    xmlns:h="urn:hl7-org:v3"
    exclude-result-prefixes="h">

  <xsl:import href="../default/normalize.xsl"/>

  <xsl:template match="*[@code and not(self::h:translation)]
                        [@codeSystem = 'KCD8' or @codeSystem = 'KCD-8' or @codeSystem = 'KCD'
                         or @codeSystem = 'EDI' or @codeSystem = 'KD']">
    <xsl:call-template name="coded">
      <xsl:with-param name="system">
        <xsl:choose>
          <xsl:when test="starts-with(@codeSystem, 'KCD')">1.2.410.100110.40.2.3.2</xsl:when>
          <xsl:when test="@codeSystem = 'EDI'">1.2.410.100110.40.2.3.3</xsl:when>
          <xsl:otherwise>1.2.410.100110.40.2.3.4</xsl:otherwise>
        </xsl:choose>
      </xsl:with-param>
    </xsl:call-template>
  </xsl:template>

  <!-- A translation keeps its codes, but gets the OID too. -->
  <xsl:template match="h:translation/@codeSystem[. = 'KCD8' or . = 'KCD-8' or . = 'KCD']">
    <xsl:attribute name="codeSystem">1.2.410.100110.40.2.3.2</xsl:attribute>
  </xsl:template>

</xsl:stylesheet>
