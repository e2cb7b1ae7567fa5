"""HL7 FHIR R4: QuestionnaireResponses in, Bundles out, Questionnaires imported as drafts."""
